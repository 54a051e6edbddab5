#pragma once
// One Vulkan context per tuning for the whole test run: creating a device and compiling pipelines is far
// more expensive than any single test.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "vkformer/context.hpp"

namespace vkformer::testing {

inline Context& context_for(const std::string& tuning = "") {
  static std::map<std::string, std::unique_ptr<Context>> contexts;
  auto& context = contexts[tuning];
  if (!context) context = std::make_unique<Context>(ContextOptions{.tuning = tuning, .validation = true});
  return *context;
}

// A JSON file under tests/data, e.g. "tiny_swish_shared/golden.json".
inline nlohmann::json read_test_json(const std::string& relative_path) {
  std::ifstream file(std::string(VKFORMER_TEST_DATA) + "/" + relative_path);
  REQUIRE(file.good());
  return nlohmann::json::parse(file);
}

// Fails the running test if the validation layer reported anything since the last call.
inline void require_no_validation_messages(const Context& context) {
  static std::map<const Context*, uint32_t> seen;
  const uint32_t now = context.validation_messages();
  const uint32_t before = std::exchange(seen[&context], now);
  INFO("validation messages were printed to stderr");
  REQUIRE(now == before);
}

// The ids of tokens in a vocabulary (a CTranslate2 model's, by position); each must be in it.
inline std::vector<uint32_t> ids_of(const std::vector<std::string>& tokens, const std::vector<std::string>& vocabulary) {
  std::vector<uint32_t> ids;
  for (const auto& token : tokens) {
    const auto found = std::find(vocabulary.begin(), vocabulary.end(), token);
    REQUIRE(found != vocabulary.end());
    ids.push_back(uint32_t(found - vocabulary.begin()));
  }
  return ids;
}

inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), {}};
}

// A model.safetensors file as its JSON header and the data after it, for tests that damage one.
struct SafetensorsFile {
  nlohmann::json header;
  std::string data;

  explicit SafetensorsFile(const std::filesystem::path& file) {
    const std::string bytes = read_bytes(file);
    uint64_t size = 0;
    std::memcpy(&size, bytes.data(), sizeof(size));
    header = nlohmann::json::parse(bytes.substr(8, size));
    data = bytes.substr(8 + size);
  }
  // Written as converters write it: the header padded with spaces to a multiple of 8 bytes.
  void write(const std::filesystem::path& file) const {
    std::string text = header.dump();
    text.resize((text.size() + 7) / 8 * 8, ' ');
    const uint64_t size = text.size();
    std::ofstream out(file, std::ios::binary);
    out.write(reinterpret_cast<const char*>(&size), sizeof(size));
    out << text << data;
  }
  // Sets `count` values of an F32 or BF16 tensor from element `first` on.
  void set(const std::string& tensor, size_t first, size_t count, float value) {
    const auto& entry = header.at(tensor);
    const bool bf16 = entry.at("dtype") == "BF16";
    const size_t width = bf16 ? 2 : 4, offset = entry.at("data_offsets")[0].get<size_t>();
    char bytes[4];
    std::memcpy(bytes, &value, 4);
    for (size_t i = first; i < first + count; ++i) data.replace(offset + i * width, width, bytes + (bf16 ? 2 : 0), width);
  }
};

}  // namespace vkformer::testing
