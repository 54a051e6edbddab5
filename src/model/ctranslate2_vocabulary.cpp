// The vocabularies of a CTranslate2 model directory, read as CTranslate2 reads them: the .json file when
// there is one, else the .txt file.
#include <fmt/format.h>

#include "vkformer/error.hpp"
#include "vkformer/model/ctranslate2.hpp"
#include "vkformer/model/model_file.hpp"

namespace vkformer {

namespace {

bool present(const std::filesystem::path& path) {
  // symlink_status: a dangling link is an error when opened, not a missing file.
  std::error_code error;
  return std::filesystem::exists(std::filesystem::symlink_status(path, error));
}

std::vector<std::string> read_json_tokens(const std::filesystem::path& path) {
  const auto json = parse_json(read_model_file(path), fmt::format("'{}' is not valid JSON", path.string()));
  if (!json.is_array()) throw Error(fmt::format("'{}' holds {}, not a JSON list of tokens", path.string(), brief(json)));
  std::vector<std::string> tokens;
  tokens.reserve(json.size());
  for (const auto& token : json) {
    if (!token.is_string()) {
      throw Error(fmt::format("'{}': token {} is {}, not a string", path.string(), tokens.size(), brief(token)));
    }
    tokens.push_back(token.get<std::string>());
  }
  if (tokens.empty()) throw Error(fmt::format("'{}' holds no tokens", path.string()));
  return tokens;
}

// One token a line. A carriage return ending every line is part of the line break, not of the tokens
// (some vocabularies hold tokens that end with one).
std::vector<std::string> read_text_tokens(const std::filesystem::path& path) {
  const std::string text = read_model_file(path);
  std::vector<std::string> tokens;
  bool crlf = true;
  for (size_t begin = 0; begin < text.size();) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    tokens.emplace_back(text, begin, end - begin);
    if (tokens.back().empty() || tokens.back().back() != '\r') crlf = false;
    begin = end + 1;
  }
  if (tokens.empty()) throw Error(fmt::format("'{}' holds no tokens", path.string()));
  if (crlf) {
    for (auto& token : tokens) token.pop_back();
  }
  return tokens;
}

// `name`.json, else `name`.txt; nullopt if neither exists.
std::optional<std::vector<std::string>> read_vocabulary(const std::filesystem::path& directory, const std::string& name) {
  const auto json = directory / (name + ".json");
  if (present(json)) return read_json_tokens(json);
  const auto text = directory / (name + ".txt");
  if (present(text)) return read_text_tokens(text);
  return std::nullopt;
}

}  // namespace

Vocabularies read_ctranslate2_vocabularies(const std::filesystem::path& directory) {
  Vocabularies vocabularies;
  if (auto shared = read_vocabulary(directory, "shared_vocabulary")) {
    vocabularies.source = *shared;
    vocabularies.target = std::move(*shared);
  } else {
    auto source = read_vocabulary(directory, "source_vocabulary");
    auto target = read_vocabulary(directory, "target_vocabulary");
    if (!source || !target) {
      throw Error(fmt::format("model directory '{}' has no vocabulary: shared_vocabulary.json or .txt, or "
                              "source_vocabulary and target_vocabulary (.json or .txt)",
                              directory.string()));
    }
    vocabularies.source = std::move(*source);
    vocabularies.target = std::move(*target);
  }
  return vocabularies;
}

}  // namespace vkformer
