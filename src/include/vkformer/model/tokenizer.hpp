#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "vkformer/model/ctranslate2.hpp"
#include "vkformer/model/model.hpp"
#include "vkformer/model/model_file.hpp"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace vkformer {

// How text becomes model ids and generated ids become text.
enum class TokenizerKind {
  marian,         // MarianTokenizer: source.spm / target.spm pieces, a leading ">>xx<<" tag kept whole, eos appended
  sentencepiece,  // Argos Translate: one sentencepiece.model's pieces, as CTranslate2 takes them
  tokens,         // pre-tokenized: tokens separated by spaces in, joined by spaces out
};
std::string_view tokenizer_kind_name(TokenizerKind kind);

// What a CTranslate2 model's tokenizer is made of beyond its vocabularies and ModelConfig.
struct TokenizerSetup {
  TokenizerKind kind = TokenizerKind::tokens;
  // marian: the directory's source.spm and target.spm; sentencepiece: an Argos package's sentencepiece.model, twice.
  std::filesystem::path source_spm, target_spm;
  // Tokens every translation starts with after the decoder start token (an Argos package's target_prefix);
  // each must be in the target vocabulary.
  std::vector<std::string> target_prefix;
  // Name the vocabularies (the model directory) and where target_prefix came from, in messages.
  std::string vocabulary_origin, prefix_origin;
};

class Tokenizer {
 public:
  // A Hugging Face Marian directory (reads config.json too: every id in vocab.json must be below its
  // vocab_size). As MarianTokenizer: SentencePiece pieces mapped through vocab.json (not spm's own ids),
  // eos appended. `tokenized`: vocab.json's pieces separated by spaces instead, eos appended too.
  explicit Tokenizer(const std::filesystem::path& model_directory, bool tokenized = false);
  // A CTranslate2 model: pieces map to ids through its vocabularies (a piece not in them is unk); bos and eos
  // are added as config.add_source_bos / add_source_eos say, and the marian kind appends eos regardless,
  // as MarianTokenizer does (CTranslate2's Transformers converter leaves that to the caller). config's
  // eos, bos, unk and decoder start ids are target-vocabulary ids; the source ids of the same tokens are
  // found by their text, as CTranslate2 adds them by name.
  Tokenizer(const Vocabularies& vocabularies, const ModelConfig& config, const TokenizerSetup& setup);
  ~Tokenizer();

  // Throws Error for text that is not valid UTF-8. Empty text gives no ids unless bos or eos is added.
  // With `pieces`, also the piece each id stands for (bos and eos as their tokens), spelled as in the text:
  // an unknown piece keeps its characters (replace_unknowns, attention maps).
  std::vector<uint32_t> encode(const std::string& text, std::vector<std::string>* pieces = nullptr) const;
  // Drops a leading target_prefix() and the special tokens (as skip_special_tokens does: eos, pad and unk
  // for Marian; eos, bos, the decoder start token and unk for Argos; only eos for the tokens kind, which shows
  // unk as its token, as CTranslate2 returns it) and joins the target pieces.
  std::string decode(const std::vector<uint32_t>& ids) const;
  // decode() with ids[i] spelled replacements[i] where that is given and not empty, even a token decode()
  // drops (replace_unknowns puts source pieces in place of unk).
  std::string decode(const std::vector<uint32_t>& ids, const std::vector<std::string>& replacements) const;
  // The target piece of each id, special tokens included (labels for attention maps).
  std::vector<std::string> target_pieces(const std::vector<uint32_t>& ids) const;
  // Pre-tokenized source: each token's source-vocabulary id (unk when it has none), nothing added.
  std::vector<uint32_t> token_ids(const std::vector<std::string>& tokens) const;
  // The target vocabulary's token of `id`; "<unk>" for an id without one.
  const std::string& target_token(uint32_t id) const;

  TokenizerKind kind() const { return kind_; }
  // Target ids to force after the decoder start token; decode() drops them.
  const std::vector<uint32_t>& target_prefix() const { return target_prefix_; }
  // Source-vocabulary ids.
  uint32_t eos_id() const { return eos_id_; }
  uint32_t bos_id() const { return bos_id_; }  // set when the model adds a start token to the source
  uint32_t pad_id() const { return pad_id_; }
  uint32_t unk_id() const { return unk_id_; }
  uint32_t target_unk_id() const { return target_unk_id_; }

 private:
  uint32_t source_id(const std::string& piece) const;
  std::vector<std::string> source_pieces(const std::string& text) const;
  std::string decode_marian(const std::vector<std::string>& pieces) const;

  TokenizerKind kind_ = TokenizerKind::marian;
  std::shared_ptr<const sentencepiece::SentencePieceProcessor> source_, target_;
  std::unordered_map<std::string, uint32_t> source_vocab_;
  std::vector<std::string> target_pieces_;  // by id
  std::vector<bool> skipped_;               // by target id: dropped by decode()
  std::vector<uint32_t> target_prefix_;
  uint32_t eos_id_ = 0, pad_id_ = 0, unk_id_ = 0, bos_id_ = 0, target_unk_id_ = 0;
  std::string eos_piece_ = "</s>", bos_piece_;
  bool add_bos_ = false, add_eos_ = true;
};

bool valid_utf8(const std::string& text);

// vocab.json: piece -> id, every id an integer below `vocab_size` and used by one piece only.
std::unordered_map<std::string, uint32_t> parse_vocab(const JsonText& file, uint32_t vocab_size);

// The length of a leading ">>xx<<" language tag (0 when there is none), as MarianTokenizer's regex
// ">>.+<<" matches at the start of the text: greedy, so up to the last "<<" of the first line.
size_t language_tag_length(const std::string& text);

}  // namespace vkformer
