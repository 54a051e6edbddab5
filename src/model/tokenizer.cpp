#include "vkformer/model/tokenizer.hpp"

#include <fstream>
#include <regex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sentencepiece_processor.h>

#include "vkformer/error.hpp"

namespace vkformer {

namespace {

std::unique_ptr<sentencepiece::SentencePieceProcessor> load_spm(const std::filesystem::path& path) {
  auto processor = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto status = processor->Load(path.string());
  if (!status.ok()) throw Error(fmt::format("cannot load SentencePiece model '{}': {}", path.string(), status.ToString()));
  return processor;
}

std::unordered_map<std::string, uint32_t> load_vocab(const std::filesystem::path& path) {
  std::ifstream file(path);
  if (!file) throw Error(fmt::format("vocabulary file '{}' is missing", path.string()));
  std::unordered_map<std::string, uint32_t> vocab;
  try {
    const auto json = nlohmann::json::parse(file);
    for (const auto& [piece, id] : json.items()) vocab[piece] = id.get<uint32_t>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("'{}' is not a piece -> id JSON object: {}", path.string(), e.what()));
  }
  return vocab;
}

uint32_t special(const std::unordered_map<std::string, uint32_t>& vocab, const std::string& piece,
                 const std::filesystem::path& path) {
  const auto found = vocab.find(piece);
  if (found == vocab.end()) throw Error(fmt::format("'{}' has no '{}' entry", path.string(), piece));
  return found->second;
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

Tokenizer::Tokenizer(const std::filesystem::path& directory) {
  source_ = load_spm(directory / "source.spm");
  target_ = load_spm(directory / "target.spm");
  const auto vocab_path = directory / "vocab.json";
  source_vocab_ = load_vocab(vocab_path);
  bool separate = false;
  if (std::ifstream config(directory / "tokenizer_config.json"); config) {
    try {
      separate = nlohmann::json::parse(config).value("separate_vocabs", false);
    } catch (const nlohmann::json::exception& e) {
      throw Error(fmt::format("'{}' is not valid JSON: {}", (directory / "tokenizer_config.json").string(), e.what()));
    }
  }
  const auto target_path = separate ? directory / "target_vocab.json" : vocab_path;
  const auto target_vocab = separate ? load_vocab(target_path) : source_vocab_;
  for (const auto& [piece, id] : target_vocab) {
    if (id >= target_pieces_.size()) target_pieces_.resize(id + 1);
    target_pieces_[id] = piece;
  }
  eos_id_ = special(source_vocab_, "</s>", vocab_path);
  pad_id_ = special(source_vocab_, "<pad>", vocab_path);
  unk_id_ = special(source_vocab_, "<unk>", vocab_path);
}

Tokenizer::~Tokenizer() = default;

std::vector<uint32_t> Tokenizer::encode(const std::string& text) const {
  if (!valid_utf8(text)) throw Error("input is not valid UTF-8");
  std::vector<uint32_t> ids;
  std::string rest = text;
  static const std::regex language_tag(">>.+<<");
  std::smatch tag;
  if (std::regex_search(rest, tag, language_tag) && tag.position(0) == 0) {
    const auto found = source_vocab_.find(tag.str(0));
    ids.push_back(found == source_vocab_.end() ? unk_id_ : found->second);
    rest = tag.suffix();
  }
  std::vector<std::string> pieces;
  source_->Encode(rest, &pieces);
  for (const auto& piece : pieces) {
    const auto found = source_vocab_.find(piece);
    ids.push_back(found == source_vocab_.end() ? unk_id_ : found->second);
  }
  ids.push_back(eos_id_);
  return ids;
}

std::string Tokenizer::decode(const std::vector<uint32_t>& ids) const {
  std::vector<std::string> pieces;
  for (uint32_t id : ids) {
    if (id == eos_id_ || id == pad_id_ || id == unk_id_) continue;
    pieces.push_back(id < target_pieces_.size() && !target_pieces_[id].empty() ? target_pieces_[id] : "<unk>");
  }
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
