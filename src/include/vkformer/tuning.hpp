#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vkformer/device_info.hpp"

namespace vkformer {

// Workgroup shapes per vendor, passed to shaders as specialization constants. No entry assumes a
// subgroup size; every entry must pass conformance on every device (the suite runs all of them).
struct Tuning {
  std::string name;
  // General matmul: each invocation computes a tm x tn block of C; workgroups of wg_x * wg_y invocations.
  // tiled = true stages A and B through shared memory in k-slices of `tile_k` (GPUs); false reads
  // straight from the buffers with vec4 loads (CPU drivers, where shared memory is slow).
  bool matmul_tiled = false;
  // tm, tn and tile_k: multiples of 4 for the tiled kernel.
  uint32_t matmul_wg_x = 8, matmul_wg_y = 8, matmul_tm = 4, matmul_tn = 4, matmul_tile_k = 16;
  // Register kernel (not tiled): the invocations of a row block (same rows of A, consecutive columns) that
  // each load matmul_tm / matmul_a_lanes of its rows and take the others from each other by subgroup
  // shuffles (matmul_lanes; 0 or 1: each loads all); and gemv without k-splitting, whose invocations load
  // A's texels in turn (matmul_gemv_lanes). CPU drivers gather every texel fetch, and the lanes of a vector
  // fetched the same rows.
  uint32_t matmul_a_lanes = 0;
  // Register kernel: row blocks of matmul_tall_tm rows (and matmul_tm * matmul_tn / matmul_tall_tm columns:
  // the same accumulators) where M fills them as well as matmul_tm rows do (0: never). Each load of B
  // then feeds more rows: on CPU drivers, where B's texel fetches are what costs, a batch-32 step's
  // matmuls ran 7% faster; with 16 rows half the block would be padding.
  uint32_t matmul_tall_tm = 0;
  // Matmul with few rows (decoder steps), B stored [N, K]: chosen for M <= gemv_max_m. A workgroup
  // computes a block of up to gemv_rows rows (a power of two) for gemv_wg / gemv_k_split columns (gemv_wg
  // x 4 without k-splitting: each invocation 4; matmul_a_lanes of them share A's loads);
  // gemv_k_split invocations share each output column (a power of two dividing gemv_wg; 1 = no
  // shared-memory reduction). On GPUs it keeps hundreds of workgroups busy where the tiled kernel, with
  // one 64-row block, would run a handful serially over K.
  // gemv halves its rows per workgroup (down to 4) while it would run fewer than gemv_min_groups.
  uint32_t gemv_wg = 64, gemv_k_split = 1, gemv_rows = 8, gemv_max_m = 8, gemv_min_groups = 0;
  // Row-wise reductions (softmax, layer norm, argmax, top-k, attention): invocations per row.
  uint32_t reduce_wg = 64;
  // Attention: 0 runs one invocation per (row, head) over all keys (CPU drivers: no barriers); else
  // workgroups of this many invocations (a power of two) per (row, head), keys split across them.
  uint32_t attention_wg = 0;
  // Without attention_wg, in kernels that project (attention_projection_rows): invocations per (row, head)
  // in attention.comp (1 or 0: one), each taking a slice of head_dim (its rows of the projection) and adding
  // the q.k partial sums with subgroup shuffles (attention_lanes build). A power of two; fewer where the
  // device's subgroups or head_dim call for it (attention_lanes()).
  uint32_t attention_lanes = 0;
  // Decoder steps of at most this many rows (sentences x beam; 0: none) run attention kernels that compute
  // their own query (self attention also the step's key and value) from the layer input, in place of the
  // qkv and cross q matmuls: two dispatches fewer per decoder layer, but each (row, head) reads its head's
  // weight rows, where the matmul reads the weight once for several rows. Models with bf16, i8 or i16
  // projections take the matmuls.
  uint32_t attention_projection_rows = 0;
  // Encoder self-attention: 0 runs the attention kernel per (row, head); else workgroups of this many
  // queries of one sentence and head sharing its keys and values through shared memory.
  uint32_t encoder_queries = 0;
  // A sublayer's residual add and LayerNorm run in its output projection's epilogue (the matmul *_norm
  // shaders) rather than as a layer_norm dispatch after it: a dispatch and a pass over the rows fewer,
  // for GPUs; not faster on CPU drivers.
  bool fuse_norm = true;
  // Matmul on tensor cores (VK_NV_cooperative_matrix, matmul_coopmat.comp) for f16 B stored [N, K], one
  // batch, M > gemv_max_m; A is rounded to f16. A workgroup of coopmat_subgroups x coopmat_subgroups
  // subgroups, each computing coopmat_tiles x coopmat_tiles tiles of the device's 16x16x16 shape, over
  // k slices of coopmat_k_tiles tiles staged in shared memory. Taken only by entries that ask for it:
  // automatically on devices in cooperative_matrix_verified() alone, by name (--tuning) elsewhere.
  bool cooperative_matrix = false;
  uint32_t coopmat_subgroups = 2, coopmat_tiles = 4, coopmat_k_tiles = 2;
};

const std::vector<Tuning>& tuning_table();

// A device and driver on which the conformance suite passed under a cooperative-matrix tuning: the
// vendor's tuning is then that one by default.
struct VerifiedDevice {
  uint32_t vendor_id = 0, device_id = 0;
  std::string_view driver_info;  // DeviceInfo::driver_info, exactly ("580.159.04" on NVIDIA)
  std::string_view tuning;       // the entry that passed
  std::string_view report;       // the run that showed it (docs/gpu-check/...)
};
const std::vector<VerifiedDevice>& cooperative_matrix_verified();

// The shared memory matmul_coopmat.comp declares under `tuning` with the device's `shape`.
uint64_t coopmat_shared_bytes(const Tuning& tuning, const CooperativeMatrixShape& shape);

// Descriptors each model kernel binds (its op in src/ops/ sets them); Context::kernel checks every
// pipeline against this table (unlisted shaders may bind no more than the most here), so the limits
// below are checked against what the kernels really bind.
struct KernelBindings {
  std::string_view shader;
  uint32_t storage_buffers = 0;
  uint32_t texel_buffers = 0;  // uniform texel buffers: they count against maxPerStageDescriptorSampledImages
};
const std::vector<KernelBindings>& kernel_bindings();

// One line per device limit that `tuning`'s kernels exceed (workgroup size and invocations, shared
// memory, descriptors per stage; cooperative matrices where the tuning uses them), naming the kernel
// and the limit; empty when it fits.
std::vector<std::string> tuning_misfits(const Tuning& tuning, const DeviceInfo& device);

struct TuningChoice {
  const Tuning* tuning = nullptr;
  std::string fallback;  // why the device's usual entry was not taken; empty when it was
};

// `name` (or VKFORMER_TUNING when empty) picks an entry, and is an error naming the limit when it does
// not fit the device. Otherwise the entry for the vendor/type, or 'generic' when that does not fit:
// generic fits the minimum limits of every conformant device. Throws when nothing fits.
TuningChoice choose_tuning(const DeviceInfo& device, const std::string& name);

}  // namespace vkformer
