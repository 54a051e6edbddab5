#include "vkformer/tuning.hpp"

#include <cstdlib>

#include <fmt/format.h>

#include "vkformer/error.hpp"

namespace vkformer {

const std::vector<Tuning>& tuning_table() {
  // Workgroup sizes are multiples of 64, so they fill whole subgroups of 8, 16, 32 and 64 lanes alike.
  static const std::vector<Tuning> table{
      // Portable middle ground for unknown GPUs.
      {.name = "generic", .matmul_tiled = true, .matmul_wg_x = 8, .matmul_wg_y = 8, .matmul_tm = 4,
       .matmul_tn = 4, .matmul_tile_k = 16, .gemv_wg = 64, .gemv_k_split = 16, .gemv_rows = 16, .gemv_max_m = 64,
       .reduce_wg = 128, .attention_wg = 64},
      {.name = "nvidia", .matmul_tiled = true, .matmul_wg_x = 16, .matmul_wg_y = 16, .matmul_tm = 8,
       .matmul_tn = 8, .matmul_tile_k = 16, .matmul_min_blocks = 264, .gemv_wg = 128, .gemv_k_split = 32, .gemv_rows = 32, .gemv_max_m = 64,
       .reduce_wg = 256, .attention_wg = 64},
      {.name = "amd", .matmul_tiled = true, .matmul_wg_x = 16, .matmul_wg_y = 16, .matmul_tm = 4,
       .matmul_tn = 4, .matmul_tile_k = 16, .gemv_wg = 64, .gemv_k_split = 64, .gemv_rows = 16, .gemv_max_m = 64,
       .reduce_wg = 256, .attention_wg = 64},
      {.name = "intel", .matmul_tiled = true, .matmul_wg_x = 8, .matmul_wg_y = 8, .matmul_tm = 4,
       .matmul_tn = 4, .matmul_tile_k = 8, .gemv_wg = 64, .gemv_k_split = 16, .gemv_rows = 16, .gemv_max_m = 64,
       .reduce_wg = 128, .attention_wg = 64},
      // CPU drivers (lavapipe, SwiftShader): shared memory and barriers are slow there and loads are
      // what costs (matmul reads vec4 texel views, which llvmpipe gathers as vectors), so no staging,
      // big per-invocation blocks, and one subgroup per row reduction. 16 x 16 blocks translate fastest;
      // 16 x 32 is no faster and takes LLVM 20 s instead of 7 to compile (docs/BENCHMARKS.md).
      {.name = "cpu", .matmul_tiled = false, .matmul_wg_x = 8, .matmul_wg_y = 4, .matmul_tm = 16,
       .matmul_tn = 16, .matmul_tile_k = 16, .gemv_wg = 64, .gemv_k_split = 1, .gemv_rows = 8, .gemv_max_m = 8,
       .reduce_wg = 8},
  };
  return table;
}

const Tuning& choose_tuning(const DeviceInfo& device, const std::string& name) {
  std::string wanted = name;
  if (wanted.empty()) {
    if (const char* env = std::getenv("VKFORMER_TUNING")) wanted = env;
  }
  const auto& table = tuning_table();
  auto by_name = [&](const std::string& entry) -> const Tuning* {
    for (const auto& tuning : table) {
      if (tuning.name == entry) return &tuning;
    }
    return nullptr;
  };
  if (!wanted.empty()) {
    if (const Tuning* tuning = by_name(wanted)) return *tuning;
    std::string names;
    for (const auto& tuning : table) names += (names.empty() ? "" : ", ") + tuning.name;
    throw Error(fmt::format("unknown tuning '{}': choose one of {}", wanted, names));
  }
  if (device.type == vk::PhysicalDeviceType::eCpu) return *by_name("cpu");
  switch (device.vendor_id) {
    case 0x10DE: return *by_name("nvidia");
    case 0x1002: return *by_name("amd");
    case 0x8086: return *by_name("intel");
    default: return *by_name("generic");
  }
}

}  // namespace vkformer
