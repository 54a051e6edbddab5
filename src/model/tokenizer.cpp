#include "vkformer/model/tokenizer.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sentencepiece_processor.h>

#include "vkformer/error.hpp"
#include "vkformer/model/model.hpp"

namespace vkformer {

namespace {

std::shared_ptr<const sentencepiece::SentencePieceProcessor> load_spm(const std::filesystem::path& path) {
  auto processor = std::make_unique<sentencepiece::SentencePieceProcessor>();
  // Read through read_model_file, which refuses FIFOs and devices, not by SentencePiece's own Load.
  const auto status = processor->LoadFromSerializedProto(read_model_file(path));
  if (!status.ok()) throw Error(fmt::format("cannot load SentencePiece model '{}': {}", path.string(), status.ToString()));
  return processor;
}

uint32_t special(const std::unordered_map<std::string, uint32_t>& vocab, const std::string& piece,
                 const std::filesystem::path& path) {
  const auto found = vocab.find(piece);
  if (found == vocab.end()) throw Error(fmt::format("'{}' has no '{}' entry", path.string(), piece));
  return found->second;
}

bool separate_vocabs(const std::filesystem::path& directory) {
  const auto path = directory / "tokenizer_config.json";
  std::error_code error;
  if (!std::filesystem::exists(std::filesystem::symlink_status(path, error))) return false;
  const auto json = parse_json_object(read_model_file(path), path);
  const auto found = json.find("separate_vocabs");
  if (found == json.end() || found->is_null()) return false;
  if (!found->is_boolean()) {
    throw Error(fmt::format("'{}': separate_vocabs is {}; it must be true or false", path.string(), brief(*found)));
  }
  return found->get<bool>();
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

}  // namespace

bool valid_utf8(const std::string& text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    const uint32_t c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t extra;
    uint32_t code, minimum;
    if ((c & 0xe0) == 0xc0) {
      extra = 1, code = c & 0x1f, minimum = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2, code = c & 0x0f, minimum = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3, code = c & 0x07, minimum = 0x10000;
    } else {
      return false;
    }
    if (n - i <= extra) return false;
    for (size_t k = 1; k <= extra; ++k) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      code = (code << 6) | (s[i + k] & 0x3f);
    }
    // Overlong forms, surrogates and code points past Unicode are invalid too.
    if (code < minimum || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return false;
    i += extra + 1;
  }
  return true;
}

std::unordered_map<std::string, uint32_t> parse_vocab(const JsonText& file, uint32_t vocab_size) {
  const auto json = parse_json_object(file.text, file.path);
  std::unordered_map<std::string, uint32_t> vocab;
  std::vector<bool> used(vocab_size);
  for (const auto& [piece, id] : json.items()) {
    // Negative ids are number_integer and floats (1e30) are number_float: neither is converted.
    if (!id.is_number_unsigned() || id.get<uint64_t>() >= vocab_size) {
      throw Error(fmt::format("'{}': piece {} has id {}, not a token id of the {}-token vocabulary",
                              file.path.string(), brief(piece), brief(id), vocab_size));
    }
    const auto value = id.get<uint32_t>();
    if (used[value]) {
      const auto other = std::find_if(vocab.begin(), vocab.end(), [&](const auto& entry) { return entry.second == value; });
      throw Error(fmt::format("'{}': pieces {} and {} both have id {}", file.path.string(), brief(other->first),
                              brief(piece), value));
    }
    used[value] = true;
    vocab.emplace(piece, value);
  }
  return vocab;
}

size_t language_tag_length(const std::string& text) {
  if (!text.starts_with(">>")) return 0;
  // "." matches neither '\n' nor '\r' (ECMAScript, as the std::regex this replaces).
  const size_t line_end = std::min(text.find_first_of("\r\n"), text.size());
  const size_t close = text.rfind("<<", line_end - 2);
  // ".+" needs at least one character between ">>" and "<<".
  return close != std::string::npos && close >= 3 ? close + 2 : 0;
}

std::string_view tokenizer_kind_name(TokenizerKind kind) {
  switch (kind) {
    case TokenizerKind::marian: return "marian";
    case TokenizerKind::sentencepiece: return "sentencepiece";
    case TokenizerKind::tokens: return "tokens";
  }
  return "unknown";
}

Tokenizer::Tokenizer(const std::filesystem::path& directory, bool tokenized)
    : kind_(tokenized ? TokenizerKind::tokens : TokenizerKind::marian) {
  const uint32_t vocab_size = read_marian_config(directory).vocab_size;
  if (!tokenized) {
    source_ = load_spm(directory / "source.spm");
    target_ = load_spm(directory / "target.spm");
  }
  const auto vocab_path = directory / "vocab.json";
  source_vocab_ = parse_vocab({vocab_path, read_model_file(vocab_path)}, vocab_size);
  const auto target_path = separate_vocabs(directory) ? directory / "target_vocab.json" : vocab_path;
  const auto target_vocab =
      target_path == vocab_path ? source_vocab_ : parse_vocab({target_path, read_model_file(target_path)}, vocab_size);
  target_pieces_.resize(vocab_size);  // parse_vocab checked that every id is below vocab_size
  for (const auto& [piece, id] : target_vocab) target_pieces_[id] = piece;
  eos_id_ = special(source_vocab_, "</s>", vocab_path);
  pad_id_ = special(source_vocab_, "<pad>", vocab_path);
  unk_id_ = special(source_vocab_, "<unk>", vocab_path);
  target_unk_id_ = special(target_vocab, "<unk>", target_path);
  skipped_.resize(vocab_size);
  skipped_[eos_id_] = true;
  // skip_special_tokens: eos, pad and unk; the tokens kind shows everything but eos, as CTranslate2 does.
  if (!tokenized) skipped_[pad_id_] = skipped_[unk_id_] = true;
}

Tokenizer::Tokenizer(const Vocabularies& vocabularies, const ModelConfig& config, const TokenizerSetup& setup)
    : kind_(setup.kind), target_pieces_(vocabularies.target) {
  if (kind_ != TokenizerKind::tokens) {
    source_ = load_spm(setup.source_spm);
    target_ = setup.target_spm == setup.source_spm ? source_ : load_spm(setup.target_spm);
  }
  // CTranslate2 keeps the first id of a token listed twice.
  for (size_t id = 0; id < vocabularies.source.size(); ++id) {
    source_vocab_.emplace(vocabularies.source[id], uint32_t(id));
  }
  const auto target_token = [&](uint32_t id, const char* what) -> const std::string& {
    if (id >= target_pieces_.size()) {
      throw Error(fmt::format("'{}': the {} id {} is not in the {}-token target vocabulary", setup.vocabulary_origin,
                              what, id, target_pieces_.size()));
    }
    return target_pieces_[id];
  };
  const auto source_token = [&](const std::string& token, const char* what) {
    const auto found = source_vocab_.find(token);
    if (found == source_vocab_.end()) {
      throw Error(fmt::format("'{}': the source vocabulary has no {} token {}", setup.vocabulary_origin, what,
                              brief(token)));
    }
    return found->second;
  };
  unk_id_ = source_token(target_token(config.unk_id, "unk"), "unk");
  target_unk_id_ = config.unk_id;
  eos_piece_ = target_token(config.eos_id, "eos");
  eos_id_ = source_token(eos_piece_, "eos");
  add_bos_ = config.add_source_bos;
  if (add_bos_) {
    bos_piece_ = target_token(config.bos_id, "bos");
    bos_id_ = source_token(bos_piece_, "bos");
  }
  add_eos_ = config.add_source_eos || kind_ == TokenizerKind::marian;
  const auto pad = source_vocab_.find("<pad>");
  pad_id_ = pad == source_vocab_.end() ? unk_id_ : pad->second;

  skipped_.resize(target_pieces_.size());
  skipped_[config.eos_id] = true;
  if (kind_ == TokenizerKind::marian) {
    skipped_[config.unk_id] = true;
    const auto target_pad = std::find(target_pieces_.begin(), target_pieces_.end(), "<pad>");
    if (target_pad != target_pieces_.end()) skipped_[target_pad - target_pieces_.begin()] = true;
  } else if (kind_ == TokenizerKind::sentencepiece) {
    // unk is dropped unless replaced by a source piece (replace_unknowns, which Argos packages ask for).
    for (uint32_t id : {config.unk_id, config.bos_id, config.decoder_start_id}) {
      if (id < skipped_.size()) skipped_[id] = true;
    }
  }
  for (const auto& token : setup.target_prefix) {
    const auto found = std::find(target_pieces_.begin(), target_pieces_.end(), token);
    if (found == target_pieces_.end()) {
      throw Error(fmt::format("{}: target_prefix {} is not a token of the {}-token target vocabulary",
                              setup.prefix_origin, brief(token), target_pieces_.size()));
    }
    target_prefix_.push_back(uint32_t(found - target_pieces_.begin()));
  }
}

Tokenizer::~Tokenizer() = default;

uint32_t Tokenizer::source_id(const std::string& piece) const {
  const auto found = source_vocab_.find(piece);
  return found == source_vocab_.end() ? unk_id_ : found->second;
}

std::vector<std::string> Tokenizer::source_pieces(const std::string& text) const {
  if (!valid_utf8(text)) throw Error("input is not valid UTF-8");
  std::vector<std::string> pieces;
  if (add_bos_) pieces.push_back(bos_piece_);
  if (kind_ == TokenizerKind::tokens) {
    for (size_t at = text.find_first_not_of(" \t"); at != std::string::npos; at = text.find_first_not_of(" \t", at)) {
      const size_t end = std::min(text.find_first_of(" \t", at), text.size());
      pieces.push_back(text.substr(at, end - at));
      at = end;
    }
  } else {
    const size_t tag = kind_ == TokenizerKind::marian ? language_tag_length(text) : 0;
    if (tag) pieces.push_back(text.substr(0, tag));
    std::vector<std::string> text_pieces;
    source_->Encode(std::string_view(text).substr(tag), &text_pieces);
    pieces.insert(pieces.end(), text_pieces.begin(), text_pieces.end());
  }
  if (add_eos_) pieces.push_back(eos_piece_);
  return pieces;
}

std::vector<uint32_t> Tokenizer::encode(const std::string& text, std::vector<std::string>* pieces) const {
  auto text_pieces = source_pieces(text);
  std::vector<uint32_t> ids;
  for (const auto& piece : text_pieces) ids.push_back(source_id(piece));
  if (pieces) *pieces = std::move(text_pieces);
  return ids;
}

std::vector<std::string> Tokenizer::target_pieces(const std::vector<uint32_t>& ids) const {
  std::vector<std::string> pieces;
  for (uint32_t id : ids) pieces.push_back(id < target_pieces_.size() ? target_pieces_[id] : "<unk>");
  return pieces;
}

std::string Tokenizer::decode(const std::vector<uint32_t>& ids) const { return decode(ids, {}); }

std::string Tokenizer::decode(const std::vector<uint32_t>& ids, const std::vector<std::string>& replacements) const {
  const bool prefixed = !target_prefix_.empty() && ids.size() >= target_prefix_.size() &&
                        std::equal(target_prefix_.begin(), target_prefix_.end(), ids.begin());
  std::vector<std::string> pieces;
  for (size_t i = prefixed ? target_prefix_.size() : 0; i < ids.size(); ++i) {
    const uint32_t id = ids[i];
    if (i < replacements.size() && !replacements[i].empty()) {
      // SentencePiece spells a piece it does not know as it is, so its word boundary mark becomes a space here.
      std::string piece = replacements[i];
      if (kind_ == TokenizerKind::sentencepiece) replace_all(piece, "\xe2\x96\x81", " ");
      pieces.push_back(std::move(piece));
      continue;
    }
    if (id < skipped_.size() && skipped_[id]) continue;
    pieces.push_back(target_token(id));
  }
  if (kind_ == TokenizerKind::marian) return decode_marian(pieces);
  std::string text;
  if (kind_ == TokenizerKind::tokens) {
    for (const auto& piece : pieces) text += (text.empty() ? "" : " ") + piece;
    return text;
  }
  target_->Decode(pieces, &text);
  // Argos drops the space the tokenizer put before the first word (DecodePieces usually has).
  return text.starts_with(' ') ? text.substr(1) : text;
}

std::vector<uint32_t> Tokenizer::token_ids(const std::vector<std::string>& tokens) const {
  std::vector<uint32_t> ids;
  for (const auto& token : tokens) ids.push_back(source_id(token));
  return ids;
}

const std::string& Tokenizer::target_token(uint32_t id) const {
  static const std::string unknown = "<unk>";
  return id < target_pieces_.size() && !target_pieces_[id].empty() ? target_pieces_[id] : unknown;
}

std::string Tokenizer::decode_marian(const std::vector<std::string>& pieces) const {
  std::string text;
  target_->Decode(pieces, &text);
  replace_all(text, "\xe2\x96\x81", " ");
  const auto first = text.find_first_not_of(' ');
  text = first == std::string::npos ? "" : text.substr(first, text.find_last_not_of(' ') - first + 1);
  // transformers' clean_up_tokenization, in its order.
  for (auto [from, to] : {std::pair{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
                          {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}}) {
    replace_all(text, from, to);
  }
  return text;
}

}  // namespace vkformer
