#pragma once
// Reading the files of a model directory, shared by the readers of safetensors, configs and vocabularies.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace vkformer {

// A JSON file's path (for messages) and text.
struct JsonText {
  std::filesystem::path path;
  std::string text;
};

// Opens a file of a model directory for reading and returns its descriptor. It must be a regular file:
// reading a FIFO or a device would block or never end. Throws Error naming the file.
int open_model_file(const std::filesystem::path& path);

// A model file mapped read-only (shared: the mapping lives as long as a copy; an empty file maps to no bytes).
struct MappedFile {
  std::shared_ptr<const uint8_t> mapping;
  std::span<const uint8_t> bytes;
};
MappedFile map_model_file(const std::filesystem::path& path);

// The whole content of a model file (config.json, vocab.json, a SentencePiece model).
std::string read_model_file(const std::filesystem::path& path);

// `text` parsed as JSON; otherwise an Error of `failure` and the parser's message.
nlohmann::json parse_json(std::string_view text, const std::string& failure);

// `text` parsed as a JSON object; `path` names it in the message of the Error otherwise.
nlohmann::json parse_json_object(std::string_view text, const std::filesystem::path& path);

// A JSON value (or a string, quoted and escaped) as one short line, for error messages: file content
// may hold newlines or megabytes.
std::string brief(const nlohmann::json& value);

}  // namespace vkformer
