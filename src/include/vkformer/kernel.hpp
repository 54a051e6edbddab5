#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <vulkan/vulkan.hpp>

namespace vkformer {

// Which embedded shader to build and how: bindings are storage buffers except those in texel_bindings
// (bit i: binding i), which are uniform texel buffers of vec4 (Buffer::vec4_view); specialization
// constants are 32-bit values with ids 0, 1, 2, ... in order. Texel bindings also in uint_texel_bindings
// are declared `utextureBuffer` and get Buffer::uint_view (raw f16/bf16/i8/i16 elements, 8 to a texel).
struct KernelSpec {
  std::string shader;
  uint32_t bindings = 0;
  uint32_t texel_bindings = 0;
  uint32_t uint_texel_bindings = 0;
  uint32_t push_constant_bytes = 0;
  std::vector<uint32_t> specialization;

  std::string key() const;
};

// A compute pipeline with its layouts.
struct Kernel {
  KernelSpec spec;
  vk::DescriptorSetLayout set_layout;
  vk::PipelineLayout layout;
  vk::Pipeline pipeline;
};

}  // namespace vkformer
