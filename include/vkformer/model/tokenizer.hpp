#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace vkformer {

// MarianTokenizer's behaviour: SentencePiece splits text into pieces, and vocab.json (not spm's own ids)
// maps pieces to model ids; a leading ">>xx<<" language tag stays one token; eos is appended.
class Tokenizer {
 public:
  explicit Tokenizer(const std::filesystem::path& model_directory);
  ~Tokenizer();

  // Throws Error for text that is not valid UTF-8.
  std::vector<uint32_t> encode(const std::string& text) const;
  // Drops eos, pad and unk (as skip_special_tokens does) and joins the target pieces.
  std::string decode(const std::vector<uint32_t>& ids) const;

  uint32_t eos_id() const { return eos_id_; }
  uint32_t pad_id() const { return pad_id_; }
  uint32_t unk_id() const { return unk_id_; }

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> source_, target_;
  std::unordered_map<std::string, uint32_t> source_vocab_;
  std::vector<std::string> target_pieces_;  // by id
  uint32_t eos_id_ = 0, pad_id_ = 0, unk_id_ = 0;
};

bool valid_utf8(const std::string& text);

}  // namespace vkformer
