#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "vkformer/buffer.hpp"
#include "vkformer/device_info.hpp"

namespace vkformer {

// A float tensor inside a buffer: buffers are bound whole and element offsets travel as push constants,
// so views need no descriptor offset alignment.
struct View {
  const Buffer* buffer = nullptr;
  uint32_t offset = 0;  // in elements
};

// A [rows, cols] matrix stored as row blocks, each its own buffer, so that a matrix past the device's
// storage-buffer range (a big vocabulary's embedding or output matrix) can be bound: block b holds rows
// [b * block_rows, b * block_rows + rows_in(b)). A quantized table (Element i8 or i16) has one f32 scale
// view per block: i8 one scale per row of the block, i16 one for the whole table (w = q / scale).
struct RowBlocks {
  std::vector<View> blocks;
  std::vector<View> scales;  // empty unless the blocks hold i8 or i16
  uint32_t block_rows = 0, rows = 0;
  uint32_t first_row(size_t b) const { return uint32_t(b) * block_rows; }
  uint32_t rows_in(size_t b) const { return std::min(block_rows, rows - first_row(b)); }
};

enum class Activation : uint32_t { none = 0, relu = 1, gelu = 2, swish = 3 };

// Workgroups for `count` invocations of `per_group` each, spread over y when x would pass its limit.
std::array<uint32_t, 3> groups_for(uint64_t count, uint32_t per_group, uint32_t max_x = 65535);

inline uint32_t ceil_div(uint64_t a, uint64_t b) { return uint32_t((a + b - 1) / b); }

// Lanes (a power of two, at most `wanted`) that a kernel's _lanes build groups within one subgroup to share
// work by shuffles: 1 unless the device has subgroup shuffles and workgroups of `wg` invocations are one
// subgroup or whole ones; then halved until they fit the smallest subgroup and divide `divides`.
uint32_t shuffle_lanes(const DeviceInfo& device, uint32_t wg, uint32_t wanted, uint32_t divides);

}  // namespace vkformer
