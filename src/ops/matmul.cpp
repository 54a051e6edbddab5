#include "vkformer/ops/matmul.hpp"

#include <fmt/format.h>

#include "vkformer/error.hpp"

namespace vkformer {

namespace {
struct Push {
  uint32_t M, N, K;
  uint32_t a_offset, b_offset, c_offset, bias_offset;
  uint32_t lda, ldb, ldc;
  uint32_t batch_inner;
  uint32_t a_outer, a_inner, b_outer, b_inner, c_outer, c_inner;
  float alpha;
  uint32_t flags;
};

bool aligned4(std::initializer_list<uint32_t> values) {
  for (uint32_t v : values) {
    if (v % 4) return false;
  }
  return true;
}
}  // namespace

std::string_view matmul_variant(const Context& context, const MatmulShape& shape) {
  const Tuning& t = context.tuning();
  const bool gemv = shape.kernel == MatmulKernel::automatic ? shape.M <= t.gemv_max_m && shape.b_transposed
                                                            : shape.kernel == MatmulKernel::gemv;
  if (gemv && !shape.b_transposed) throw Error("the gemv matmul kernel needs B stored [N, K]");
  if (gemv) return "matmul_gemv";
  return t.matmul_tiled ? "matmul_tiled" : "matmul";
}

void record_matmul(Sequence& sequence, Context& context, View a, View b, View bias, View c, MatmulShape s,
                   std::string_view label) {
  if (s.M == 0 || s.N == 0 || s.K == 0 || s.batch == 0 || s.batch_inner == 0) {
    throw Error(fmt::format("{}: empty matmul {}x{}x{} batch {}", label, s.M, s.N, s.K, s.batch));
  }
  if (!s.lda) s.lda = s.K;
  if (!s.ldb) s.ldb = s.b_transposed ? s.K : s.N;
  if (!s.ldc) s.ldc = s.N;
  const bool vec4 = aligned4({s.K, a.offset, s.lda, s.a_outer, s.a_inner, b.offset, s.ldb, s.b_outer, s.b_inner}) &&
                    a.buffer->vec4_view() && b.buffer->vec4_view();
  const bool b_f16 = b.buffer->element() == Element::f16;
  if (b_f16 && !b.buffer->vec4_view()) throw Error(fmt::format("{}: f16 matrix '{}' has no texel view", label, b.buffer->name()));
  if (a.buffer->element() != Element::f32 || (bias.buffer && bias.buffer->element() != Element::f32) ||
      c.buffer->element() != Element::f32) {
    throw Error(fmt::format("{}: only B may be f16", label));
  }
  const uint32_t flags = (bias.buffer ? 1u : 0u) | (vec4 ? 2u : 0u) | (b_f16 ? 4u : 0u) | (uint32_t(s.activation) << 8);
  const Push push{s.M, s.N, s.K, a.offset, b.offset, c.offset, bias.offset, s.lda, s.ldb, s.ldc, s.batch_inner,
                  s.a_outer, s.a_inner, s.b_outer, s.b_inner, s.c_outer, s.c_inner, s.alpha, flags};

  const Tuning& t = context.tuning();
  const std::string_view variant = matmul_variant(context, s);
  std::vector<uint32_t> specialization;
  std::array<uint32_t, 3> groups{1, 1, s.batch};
  if (variant == "matmul_gemv") {
    // Rows per workgroup: M rounded up to a power of two, at most gemv_rows (whose k-split partial sums
    // the tuning check has fitted into shared memory: tuning_misfits). Fewer rows per
    // workgroup read B more often but make more workgroups: halve them (down to 4) while there are fewer
    // than gemv_min_groups.
    uint32_t rows = 1;
    while (rows < std::min(s.M, t.gemv_rows)) rows *= 2;
    groups[0] = ceil_div(s.N, t.gemv_wg / t.gemv_k_split);
    while (rows > 4 && uint64_t(groups[0]) * ceil_div(s.M, rows) * s.batch < t.gemv_min_groups) rows /= 2;
    specialization = {t.gemv_wg, 1u, t.gemv_k_split, rows};
    groups[1] = ceil_div(s.M, rows);
  } else {
    specialization = {t.matmul_wg_x, s.b_transposed, t.matmul_wg_y, t.matmul_tm, t.matmul_tn, t.matmul_tile_k};
    if (variant == "matmul") specialization.push_back(vec4);  // VEC4: one pipeline per load width
    groups[0] = ceil_div(s.N, uint64_t(t.matmul_wg_x) * t.matmul_tn);
    groups[1] = ceil_div(s.M, uint64_t(t.matmul_wg_y) * t.matmul_tm);
  }
  constexpr uint32_t kVec4Bindings = (1u << 1) | (1u << 3);  // a4, b4 in matmul_common.glsl
  const Kernel& kernel = context.kernel({.shader = std::string(variant), .bindings = 6, .texel_bindings = kVec4Bindings,
                                         .push_constant_bytes = sizeof(Push), .specialization = specialization});
  const Buffer* bias_buffer = bias.buffer ? bias.buffer : a.buffer;  // bound but unread without the bias flag
  const double batch = s.batch, m = s.M, n = s.N, k = s.K;
  const DispatchCost cost{.flops = 2 * m * n * k * batch, .bytes = 4 * (m * k + n * k + m * n) * batch};
  sequence.dispatch(kernel, {a.buffer, a.buffer, b.buffer, b.buffer, bias_buffer, c.buffer}, push, groups, label, cost);
}

}  // namespace vkformer
