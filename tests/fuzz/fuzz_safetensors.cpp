// The safetensors reader on arbitrary bytes: the header, then every tensor it lists read as float32.
#include <cstdint>

#include "fuzz_common.hpp"
#include "vkformer/model/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vkformer::fuzz::expect_only_errors([&] {
    const vkformer::SafetensorsFile file({data, size}, "fuzz.safetensors");
    for (const auto& tensor : file.entries()) {
      vkformer::fuzz::expect_only_errors([&] { file.read_f32(tensor.first, tensor.second.shape); });
    }
  });
  return 0;
}
