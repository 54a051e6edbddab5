#pragma once
// One Vulkan context per tuning for the whole test run: creating a device and compiling pipelines is far
// more expensive than any single test.
#include <map>
#include <memory>
#include <string>

#include <catch2/catch.hpp>
#include <fstream>
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

}  // namespace vkformer::testing
