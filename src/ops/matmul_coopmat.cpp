#include "vkformer/ops/matmul_coopmat.hpp"

#include <fmt/format.h>

namespace vkformer {

namespace {
struct Push {
  uint32_t M, N, K;
  uint32_t a_offset, b_offset, c_offset, bias_offset;
  uint32_t lda, ldb, ldc;
  float alpha;
  uint32_t flags;
};
}  // namespace

std::string coopmat_misfit(const Context& context, const MatmulShape& shape, Element b_element) {
  if (!context.cooperative_matrix()) {
    return fmt::format("tuning '{}' does not use cooperative matrices (--tuning nvidia-coopmat does)",
                       context.tuning().name);
  }
  if (b_element != Element::f16) return fmt::format("B must hold f16, not {}", element_name(b_element));
  if (!shape.b_transposed) return "B must be stored [N, K]";
  if (shape.batch != 1) return fmt::format("one matrix only, not a batch of {}", shape.batch);
  if (shape.norm.gamma.buffer) return "no LayerNorm epilogue here (a matmul with a norm runs a *_norm build)";
  return {};
}

void record_matmul_coopmat(Sequence& sequence, Context& context, View a, View b, View bias, View c,
                           const MatmulShape& s, std::string_view label) {
  const Tuning& t = context.tuning();
  const CooperativeMatrixShape& tile = *matmul_cooperative_shape(context.info());
  const bool a_vec4 = s.K % 4 == 0 && a.offset % 4 == 0 && s.lda % 4 == 0;
  const bool b_vec8 = s.K % 8 == 0 && b.offset % 8 == 0 && s.ldb % 8 == 0;
  const uint32_t flags = (bias.buffer ? 1u : 0u) | (a_vec4 ? 2u : 0u) | (b_vec8 ? 4u : 0u) |
                         (s.accumulate ? 8u : 0u) | (uint32_t(s.activation) << 8);
  const Push push{s.M, s.N, s.K, a.offset, b.offset, c.offset, bias.offset, s.lda, s.ldb, s.ldc, s.alpha, flags};
  // The workgroup holds coopmat_subgroups^2 whole subgroups of the device's size, which
  // cooperative_matrix_misfit() has checked is fixed: the shader maps its tiles by gl_SubgroupID.
  const uint32_t subgroups = t.coopmat_subgroups;
  const uint32_t wg = subgroups * subgroups * context.info().subgroup_size;
  const Kernel& kernel = context.kernel(
      {.shader = std::string(kCoopmatShader), .bindings = 4, .push_constant_bytes = sizeof(Push),
       .specialization = {wg, tile.m, tile.n, tile.k, subgroups, subgroups, t.coopmat_tiles, t.coopmat_tiles,
                          t.coopmat_k_tiles}});
  const uint64_t block_m = uint64_t(subgroups) * t.coopmat_tiles * tile.m;
  const uint64_t block_n = uint64_t(subgroups) * t.coopmat_tiles * tile.n;
  const std::array<uint32_t, 3> groups{ceil_div(s.N, block_n), ceil_div(s.M, block_m), 1};
  const Buffer* bias_buffer = bias.buffer ? bias.buffer : a.buffer;  // bound but unread without the bias flag
  const double m = s.M, n = s.N, k = s.K;
  const DispatchCost cost{.flops = 2 * m * n * k, .bytes = 4 * (m * k + m * n * (s.accumulate ? 2 : 1)) + 2 * n * k};
  sequence.dispatch(kernel, {a.buffer, b.buffer, bias_buffer, c.buffer}, push, groups, label, cost);
}

}  // namespace vkformer
