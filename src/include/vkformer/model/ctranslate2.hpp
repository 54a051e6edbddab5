#pragma once
// CTranslate2 model directories (model.bin, config.json, vocabularies), as its converters write them and
// Argos Translate packages hold them.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "vkformer/model/model.hpp"

namespace vkformer {

// Tokens by id: shared_vocabulary.{json,txt}, or source_vocabulary + target_vocabulary (.json: a JSON
// array of strings; .txt: one token a line). A shared vocabulary gives the same list twice.
struct Vocabularies {
  std::vector<std::string> source, target;
};
Vocabularies read_ctranslate2_vocabularies(const std::filesystem::path& directory);

// A directory holding model.bin (binary versions 1-6) of a Transformer encoder-decoder spec.
bool is_ctranslate2_model(const std::filesystem::path& directory);
std::unique_ptr<ModelSource> open_ctranslate2_model(const std::filesystem::path& directory);

}  // namespace vkformer
