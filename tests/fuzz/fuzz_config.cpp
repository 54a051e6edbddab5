// The config.json and generation_config.json readers: the input is config.json, then optionally a NUL
// byte and generation_config.json (JSON text holds no raw NUL).
#include <cstdint>
#include <string>

#include "fuzz_common.hpp"
#include "vkformer/model/model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t split = input.find('\0');
  const vkformer::JsonText config{"config.json", input.substr(0, split)};
  std::optional<vkformer::JsonText> generation;
  if (split != std::string::npos) generation = vkformer::JsonText{"generation_config.json", input.substr(split + 1)};
  vkformer::fuzz::expect_only_errors([&] { vkformer::parse_marian_config(config, generation); });
  return 0;
}
