#pragma once
#include <array>
#include <cstdint>

#include "vkformer/buffer.hpp"

namespace vkformer {

// A float tensor inside a buffer: buffers are bound whole and element offsets travel as push constants,
// so views need no descriptor offset alignment.
struct View {
  const Buffer* buffer = nullptr;
  uint32_t offset = 0;  // in elements
};

enum class Activation : uint32_t { none = 0, relu = 1, gelu = 2, swish = 3 };

// Workgroups for `count` invocations of `per_group` each, spread over y when x would pass its limit.
std::array<uint32_t, 3> groups_for(uint64_t count, uint32_t per_group, uint32_t max_x = 65535);

inline uint32_t ceil_div(uint64_t a, uint64_t b) { return uint32_t((a + b - 1) / b); }

}  // namespace vkformer
