#include "vkformer/tuning.hpp"

#include <cstdlib>

#include <fmt/format.h>

#include "vkformer/error.hpp"

namespace vkformer {

const std::vector<Tuning>& tuning_table() {
  constexpr uint32_t kAnyRows = UINT32_MAX;
  // Workgroup sizes are multiples of 64, so they fill whole subgroups of 8, 16, 32 and 64 lanes alike.
  // GPUs project in the attention at any number of rows (two dispatches fewer per decoder layer, and q, k,
  // v never go through memory): not measured on a GPU yet.
  static const std::vector<Tuning> table{
      // Portable middle ground for unknown GPUs. Separate layer_norm dispatches: the fused matmuls bind 8
      // storage buffers, one more than the other kernels need.
      {.name = "generic", .matmul_tiled = true, .matmul_wg_x = 8, .matmul_wg_y = 8, .matmul_tm = 4,
       .matmul_tn = 4, .matmul_tile_k = 16, .gemv_wg = 64, .gemv_k_split = 16, .gemv_rows = 16, .gemv_max_m = 64,
       .reduce_wg = 128, .attention_wg = 64, .attention_projection_rows = kAnyRows, .encoder_queries = 64,
       .fuse_norm = false},
      // Measured on an H200 (docs/BENCHMARKS.md): 64 x 64 blocks of 4 x 4 ran 4096^3 at 28 TFLOP/s, 128 x 128
      // blocks of 8 x 8 at 2.3. gemv: 32 rows per workgroup read a vocabulary-sized B once for a batch-32
      // step, halved while there are fewer than 264 workgroups (2 per multiprocessor).
      {.name = "nvidia", .matmul_tiled = true, .matmul_wg_x = 16, .matmul_wg_y = 16, .matmul_tm = 4,
       .matmul_tn = 4, .matmul_tile_k = 16, .gemv_wg = 128, .gemv_k_split = 32, .gemv_rows = 32, .gemv_max_m = 64,
       .gemv_min_groups = 264,
       .reduce_wg = 256, .attention_wg = 64, .attention_projection_rows = kAnyRows, .encoder_queries = 64},
      // nvidia with f16-weight matmuls of more than gemv_max_m rows on tensor cores: opt-in until its
      // conformance run on a GPU is recorded in cooperative_matrix_verified().
      {.name = "nvidia-coopmat", .matmul_tiled = true, .matmul_wg_x = 16, .matmul_wg_y = 16, .matmul_tm = 4,
       .matmul_tn = 4, .matmul_tile_k = 16, .gemv_wg = 128, .gemv_k_split = 32, .gemv_rows = 32, .gemv_max_m = 64,
       .gemv_min_groups = 264, .reduce_wg = 256, .attention_wg = 64, .attention_projection_rows = kAnyRows,
       .encoder_queries = 64, .cooperative_matrix = true},
      {.name = "amd", .matmul_tiled = true, .matmul_wg_x = 16, .matmul_wg_y = 16, .matmul_tm = 4,
       .matmul_tn = 4, .matmul_tile_k = 16, .gemv_wg = 64, .gemv_k_split = 64, .gemv_rows = 16, .gemv_max_m = 64,
       .reduce_wg = 256, .attention_wg = 64, .attention_projection_rows = kAnyRows, .encoder_queries = 64},
      {.name = "intel", .matmul_tiled = true, .matmul_wg_x = 8, .matmul_wg_y = 8, .matmul_tm = 4,
       .matmul_tn = 4, .matmul_tile_k = 8, .gemv_wg = 64, .gemv_k_split = 16, .gemv_rows = 16, .gemv_max_m = 64,
       .reduce_wg = 128, .attention_wg = 64, .attention_projection_rows = kAnyRows, .encoder_queries = 64},
      // CPU drivers (lavapipe, SwiftShader): shared memory and barriers are slow there and loads are
      // what costs (matmul reads vec4 texel views, which llvmpipe gathers as vectors), so no staging,
      // big per-invocation blocks, and one subgroup per row reduction. Blocks of 16 x 8 in workgroups of
      // 8 x 1, whose 8 invocations share their A rows through shuffles (matmul_a_lanes): 8-26% faster than
      // 16 x 16 blocks without (docs/BENCHMARKS.md); 16 x 32 took LLVM 20 s to compile. 32 x 4 where M is
      // a multiple of 32 (matmul_tall_tm: 7% faster at batch 32, slower at 16). gemv's 16
      // invocations of 4 columns each share A the same way.
      // In attention kernels that project, 8 lanes per (row, head) (attention_lanes).
      // Projection in the attention at 1 row (greedy batch 1: 100 lines 2.99 -> 2.74 s); from 2 rows the
      // qkv and cross q matmuls are faster, since they read each weight texel once for all the rows (beam 4
      // batch 1: 2.74-2.81 -> 2.12-2.18 s, docs/BENCHMARKS.md). Separate layer_norm
      // dispatches: the fused epilogue (storage-buffer loads, barriers in kernels that had none) cost as much
      // as the dispatch it saves at batch 1 and 10% more at batch 32 (docs/BENCHMARKS.md).
      {.name = "cpu", .matmul_tiled = false, .matmul_wg_x = 8, .matmul_wg_y = 1, .matmul_tm = 16,
       .matmul_tn = 8, .matmul_tile_k = 16, .matmul_a_lanes = 8, .matmul_tall_tm = 32, .gemv_wg = 16,
       .gemv_k_split = 1,
       .gemv_rows = 8, .gemv_max_m = 8,
       .reduce_wg = 8, .attention_lanes = 8, .attention_projection_rows = 1, .fuse_norm = false},
  };
  return table;
}

const std::vector<VerifiedDevice>& cooperative_matrix_verified() {
  // Empty: matmul_coopmat has not run on a GPU yet. After `tools/gpu_check.sh` passes on one (its
  // conformance-nvidia-coopmat.json with no failure and no skipped case, validation on), add
  // {vendor_id, device_id, driver_info, tuning, report} from its devices.json and the report's path.
  static const std::vector<VerifiedDevice> table{};
  return table;
}

uint64_t coopmat_shared_bytes(const Tuning& t, const CooperativeMatrixShape& shape) {
  // tile_a[BM * (BK + 8)] and tile_b[BN * (BK + 8)] of f16, tile_c[subgroups * TILE_M * TILE_N] of f32.
  const uint64_t tiles = uint64_t(t.coopmat_subgroups) * t.coopmat_tiles;
  const uint64_t bm = tiles * shape.m, bn = tiles * shape.n, bk = uint64_t(t.coopmat_k_tiles) * shape.k;
  return 2 * (bm + bn) * (bk + 8) + 4 * uint64_t(t.coopmat_subgroups) * t.coopmat_subgroups * shape.m * shape.n;
}

const std::vector<KernelBindings>& kernel_bindings() {
  static const std::vector<KernelBindings> table{
      {"matmul", 4, 4},         {"matmul_lanes", 4, 4},  {"matmul_tiled", 4, 4}, {"matmul_gemv", 4, 4},
      {"matmul_gemv_lanes", 4, 4}, {"matmul_norm", 8, 4},
      {"matmul_tiled_norm", 8, 4}, {"matmul_gemv_norm", 8, 4}, {"layer_norm", 6, 4},
      {"layer_norm_nosubgroup", 6, 4}, {"attention", 7, 6}, {"attention_lanes", 7, 6}, {"attention_wg", 7, 6}, {"softmax", 3, 0}, {"argmax", 3, 1},
      {"topk", 3, 1},           {"elementwise", 3, 0},  {"embed_position", 4, 1}, {"logits_edit", 3, 0},
      {"encoder_attention", 3, 0}, {"matmul_coopmat", 4, 0},
  };
  return table;
}

namespace {
// A kernel's workgroup shape and shared memory under a tuning, as its shader declares them.
struct KernelNeeds {
  std::string_view kernel;
  uint32_t x = 1, y = 1;
  uint64_t shared_bytes = 0;
};

std::vector<KernelNeeds> kernel_needs(const Tuning& t) {
  constexpr uint64_t kFloat = sizeof(float);
  // matmul_norm.glsl: norm_partial[THREADS] and a bool, in the _norm builds the tuning runs.
  const auto norm = [&](uint64_t threads) { return t.fuse_norm ? kFloat * (threads + 1) : 0; };
  std::vector<KernelNeeds> needs;
  const uint64_t matmul_threads = uint64_t(t.matmul_wg_x) * t.matmul_wg_y;
  if (t.matmul_tiled) {
    // vec4 tile_a[TILE_K * (BM / 4 + 1)] and tile_b[TILE_K * (BN / 4 + 1)] in matmul_tiled.comp.
    const uint64_t bm = t.matmul_wg_y * t.matmul_tm, bn = t.matmul_wg_x * t.matmul_tn;
    const uint64_t vec4s = t.matmul_tile_k * (bm / 4 + 1 + bn / 4 + 1);
    needs.push_back({"matmul_tiled", t.matmul_wg_x, t.matmul_wg_y, 4 * kFloat * vec4s + norm(matmul_threads)});
  } else {
    needs.push_back({"matmul", t.matmul_wg_x, t.matmul_wg_y, norm(matmul_threads)});
  }
  // partial[WG * MAX_M] with k-splitting; MAX_M is at most gemv_rows.
  needs.push_back({"matmul_gemv", t.gemv_wg, 1,
                   (t.gemv_k_split > 1 ? kFloat * t.gemv_wg * t.gemv_rows : kFloat) + norm(t.gemv_wg)});
  // topk.comp holds three WG-sized arrays, the most of the row reductions (softmax, argmax and logits_edit two,
  // layer_norm one).
  needs.push_back({"row reductions (softmax, layer_norm, argmax, topk, logits_edit, attention, elementwise, "
                   "embed_position)",
                   t.reduce_wg, 1, 3 * kFloat * t.reduce_wg});
  // attention.cpp takes attention_wg only where its shared memory fits, so only the workgroup is checked.
  if (t.attention_wg) needs.push_back({"attention_wg", t.attention_wg, 1, 0});
  // encoder_attention.cpp sizes its key chunks to the shared memory (or falls back to attention).
  if (t.encoder_queries) needs.push_back({"encoder_attention", t.encoder_queries, 1, 0});
  return needs;
}

void check_kernel(const KernelNeeds& k, const DeviceInfo& d, std::vector<std::string>& misfits) {
  if (k.x > d.max_workgroup_size[0] || k.y > d.max_workgroup_size[1]) {
    misfits.push_back(fmt::format("{}: workgroup {}x{} exceeds maxComputeWorkGroupSize {}x{}", k.kernel, k.x, k.y,
                                  d.max_workgroup_size[0], d.max_workgroup_size[1]));
  }
  if (uint64_t(k.x) * k.y > d.max_workgroup_invocations) {
    misfits.push_back(fmt::format("{}: {} invocations per workgroup exceed maxComputeWorkGroupInvocations {}",
                                  k.kernel, k.x * k.y, d.max_workgroup_invocations));
  }
  if (k.shared_bytes > d.shared_memory_bytes) {
    misfits.push_back(fmt::format("{}: {} bytes of shared memory exceed maxComputeSharedMemorySize {}", k.kernel,
                                  k.shared_bytes, d.shared_memory_bytes));
  }
}

void check_bindings(const KernelBindings& k, const DeviceInfo& d, std::vector<std::string>& misfits) {
  if (k.storage_buffers > d.max_storage_buffers_per_stage) {
    misfits.push_back(fmt::format("{}: {} storage buffers exceed maxPerStageDescriptorStorageBuffers {}", k.shader,
                                  k.storage_buffers, d.max_storage_buffers_per_stage));
  }
  if (k.texel_buffers > d.max_sampled_images_per_stage) {
    misfits.push_back(fmt::format("{}: {} uniform texel buffers exceed maxPerStageDescriptorSampledImages {}",
                                  k.shader, k.texel_buffers, d.max_sampled_images_per_stage));
  }
  if (k.storage_buffers + k.texel_buffers > d.max_resources_per_stage) {
    misfits.push_back(fmt::format("{}: {} descriptors exceed maxPerStageResources {}", k.shader,
                                  k.storage_buffers + k.texel_buffers, d.max_resources_per_stage));
  }
}

std::string join(const std::vector<std::string>& lines) {
  std::string joined;
  for (const auto& line : lines) joined += (joined.empty() ? "" : "; ") + line;
  return joined;
}

const Tuning* find_tuning(const std::string& name) {
  for (const auto& tuning : tuning_table()) {
    if (tuning.name == name) return &tuning;
  }
  return nullptr;
}

std::string usual_tuning(const DeviceInfo& device) {
  if (device.type == vk::PhysicalDeviceType::eCpu) return "cpu";
  for (const auto& verified : cooperative_matrix_verified()) {
    if (verified.vendor_id == device.vendor_id && verified.device_id == device.device_id &&
        verified.driver_info == device.driver_info) {
      return std::string(verified.tuning);
    }
  }
  switch (device.vendor_id) {
    case 0x10DE: return "nvidia";
    case 0x1002: return "amd";
    case 0x8086: return "intel";
    default: return "generic";
  }
}

// A cooperative-matrix tuning on a device that cannot run matmul_coopmat, or whose workgroup (subgroups
// of the device's size) or shared memory does not fit.
void check_cooperative_matrix(const Tuning& t, const DeviceInfo& d, std::vector<std::string>& misfits) {
  if (const auto why = cooperative_matrix_misfit(d); !why.empty()) {
    misfits.push_back("matmul_coopmat: " + why);
    return;
  }
  const uint32_t invocations = t.coopmat_subgroups * t.coopmat_subgroups * d.subgroup_size;
  check_kernel({"matmul_coopmat", invocations, 1, coopmat_shared_bytes(t, *matmul_cooperative_shape(d))}, d, misfits);
}
}  // namespace

std::vector<std::string> tuning_misfits(const Tuning& tuning, const DeviceInfo& device) {
  std::vector<std::string> misfits;
  if (tuning.cooperative_matrix) check_cooperative_matrix(tuning, device, misfits);
  for (const auto& kernel : kernel_needs(tuning)) check_kernel(kernel, device, misfits);
  for (const auto& kernel : kernel_bindings()) {
    const bool fused_norm = kernel.shader.starts_with("matmul") && kernel.shader.ends_with("_norm");
    if (fused_norm && !tuning.fuse_norm) continue;  // never dispatched then
    check_bindings(kernel, device, misfits);
  }
  return misfits;
}

TuningChoice choose_tuning(const DeviceInfo& device, const std::string& name) {
  std::string wanted = name;
  if (wanted.empty()) {
    if (const char* env = std::getenv("VKFORMER_TUNING")) wanted = env;
  }
  if (!wanted.empty()) {
    const Tuning* tuning = find_tuning(wanted);
    if (!tuning) {
      std::string names;
      for (const auto& entry : tuning_table()) names += (names.empty() ? "" : ", ") + entry.name;
      throw Error(fmt::format("unknown tuning '{}': choose one of {}", wanted, names));
    }
    if (const auto misfits = tuning_misfits(*tuning, device); !misfits.empty()) {
      throw Error(fmt::format("tuning '{}' does not fit device '{}': {}", wanted, device.name, join(misfits)));
    }
    return {tuning, ""};
  }
  const Tuning* usual = find_tuning(usual_tuning(device));
  const auto misfits = tuning_misfits(*usual, device);
  if (misfits.empty()) return {usual, ""};
  const Tuning* generic = find_tuning("generic");
  if (const auto too_big = tuning_misfits(*generic, device); !too_big.empty()) {
    throw Error(fmt::format("device '{}' is below the limits vkformer needs: {}", device.name, join(too_big)));
  }
  return {generic, fmt::format("'{}' does not fit: {}", usual->name, join(misfits))};
}

}  // namespace vkformer
