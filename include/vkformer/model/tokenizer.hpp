#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "vkformer/model/model_file.hpp"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace vkformer {

// MarianTokenizer's behaviour: SentencePiece splits text into pieces, and vocab.json (not spm's own ids)
// maps pieces to model ids; a leading ">>xx<<" language tag stays one token; eos is appended.
class Tokenizer {
 public:
  // Reads config.json too: every id in vocab.json must be below its vocab_size.
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

// vocab.json: piece -> id, every id an integer below `vocab_size` and used by one piece only.
std::unordered_map<std::string, uint32_t> parse_vocab(const JsonText& file, uint32_t vocab_size);

// The length of a leading ">>xx<<" language tag (0 when there is none), as MarianTokenizer's regex
// ">>.+<<" matches at the start of the text: greedy, so up to the last "<<" of the first line.
size_t language_tag_length(const std::string& text);

}  // namespace vkformer
