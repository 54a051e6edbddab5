#include "vkformer/ops/matmul.hpp"

#include <numeric>

#include <fmt/format.h>

#include "vkformer/error.hpp"
#include "vkformer/ops/matmul_coopmat.hpp"

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
  uint32_t scale_offset;
};

// The norm's fields follow (matmul_common.glsl under NORM).
struct NormPush {
  Push matmul;
  uint32_t counter_offset, gamma_offset, beta_offset, normed_offset;
  float eps;
};

bool aligned(uint32_t multiple, std::initializer_list<uint32_t> values) {
  for (uint32_t v : values) {
    if (v % multiple) return false;
  }
  return true;
}
}  // namespace

uint32_t matmul_a_lanes(const Context& context, bool gemv) {
  const Tuning& t = context.tuning();
  if (gemv ? t.gemv_k_split != 1 : t.matmul_tiled) return 1;
  // gemv's lanes all read the same rows of A; the register kernel's share a row block, so they divide
  // its row of invocations and its rows (either block height).
  const uint32_t rows = t.matmul_tall_tm ? std::gcd(t.matmul_tm, t.matmul_tall_tm) : t.matmul_tm;
  return gemv ? shuffle_lanes(context.info(), t.gemv_wg, t.matmul_a_lanes, t.gemv_wg)
              : shuffle_lanes(context.info(), t.matmul_wg_x * t.matmul_wg_y, t.matmul_a_lanes,
                              std::gcd(t.matmul_wg_x, rows));
}

namespace {
// The register kernel's block for M rows: matmul_tall_tm x (the same accumulators) where M pads to no
// more rows in tall blocks than in the tuning's matmul_tm ones.
std::array<uint32_t, 2> register_block(const Tuning& t, uint32_t M) {
  const uint32_t tall = t.matmul_tall_tm;
  if (t.matmul_tiled || tall == 0 || M < tall || (t.matmul_tm * t.matmul_tn) % tall) return {t.matmul_tm, t.matmul_tn};
  const uint64_t rows = uint64_t(t.matmul_wg_y) * t.matmul_tm, tall_rows = uint64_t(t.matmul_wg_y) * tall;
  if (ceil_div(M, tall_rows) * tall_rows > ceil_div(M, rows) * rows) return {t.matmul_tm, t.matmul_tn};
  return {tall, t.matmul_tm * t.matmul_tn / tall};
}
}  // namespace

std::string_view matmul_variant(const Context& context, const MatmulShape& shape, Element b_element) {
  const Tuning& t = context.tuning();
  if (shape.kernel == MatmulKernel::cooperative) {
    if (const auto why = coopmat_misfit(context, shape, b_element); !why.empty()) {
      throw Error(fmt::format("the cooperative-matrix matmul kernel cannot run {}x{}x{}: {}", shape.M, shape.N,
                              shape.K, why));
    }
    return kCoopmatShader;
  }
  if (shape.kernel == MatmulKernel::automatic && t.cooperative_matrix && shape.M > t.gemv_max_m &&
      coopmat_misfit(context, shape, b_element).empty()) {
    return kCoopmatShader;
  }
  const bool gemv = shape.kernel == MatmulKernel::automatic ? shape.M <= t.gemv_max_m && shape.b_transposed
                                                            : shape.kernel == MatmulKernel::gemv;
  if (gemv && !shape.b_transposed) throw Error("the gemv matmul kernel needs B stored [N, K]");
  const bool norm = shape.norm.gamma.buffer;
  const bool lanes = !norm && shape.kernel == MatmulKernel::automatic && matmul_a_lanes(context, gemv) > 1;
  if (gemv) return norm ? "matmul_gemv_norm" : lanes ? "matmul_gemv_lanes" : "matmul_gemv";
  if (t.matmul_tiled) return norm ? "matmul_tiled_norm" : "matmul_tiled";
  return norm ? "matmul_norm" : lanes ? "matmul_lanes" : "matmul";
}

void record_matmul(Sequence& sequence, Context& context, View a, View b, View bias, View c, MatmulShape s,
                   std::string_view label) {
  if (s.M == 0 || s.N == 0 || s.K == 0 || s.batch == 0 || s.batch_inner == 0) {
    throw Error(fmt::format("{}: empty matmul {}x{}x{} batch {}", label, s.M, s.N, s.K, s.batch));
  }
  if (!s.lda) s.lda = s.K;
  if (!s.ldb) s.ldb = s.b_transposed ? s.K : s.N;
  if (!s.ldc) s.ldc = s.N;
  const Element element = b.buffer->element();
  const bool quantized = integer_element(element), scaled = element == Element::i8 || element == Element::i16;
  if (a.buffer->element() != Element::f32 || (bias.buffer && bias.buffer->element() != Element::f32) ||
      c.buffer->element() != Element::f32) {
    throw Error(fmt::format("{}: A, C and the bias must be f32 (only B may be f16, bf16, i8 or i16)", label));
  }
  if (quantized && (!s.b_transposed || (scaled && s.batch != 1))) {
    throw Error(fmt::format("{}: {} matrix '{}' must be one matrix stored [N, K] (got {}{})", label,
                            element_name(element), b.buffer->name(), s.b_transposed ? "[N, K]" : "[K, N]",
                            s.batch != 1 ? fmt::format(", batch {}", s.batch) : ""));
  }
  if (scaled != bool(s.b_scale.buffer)) {
    throw Error(fmt::format("{}: {} matrix '{}' {}", label, element_name(element), b.buffer->name(),
                            scaled ? "has no scales (MatmulShape::b_scale)" : "takes no scales"));
  }
  if (scaled) {
    // i8: one scale per row of B (output column), i16: one for the matrix; read through the scales' vec4 view.
    const Buffer& scales = *s.b_scale.buffer;
    const uint64_t needed = uint64_t(s.b_scale.offset) + (element == Element::i8 ? s.N : 1);
    if (scales.element() != Element::f32 || scales.bytes() < needed * 4 || !scales.vec4_view()) {
      throw Error(fmt::format("{}: the scales of {} matrix '{}' must be {} f32 values at offset {} of a buffer with "
                              "a texel view; '{}' is {} with {} bytes", label, element_name(element), b.buffer->name(),
                              needed - s.b_scale.offset, s.b_scale.offset, scales.name(),
                              element_name(scales.element()), scales.bytes()));
    }
  }
  const bool norm = s.norm.gamma.buffer;
  if (norm) {
    const MatmulNorm& n = s.norm;
    if (s.batch != 1 || !n.beta.buffer || !n.out.buffer || !n.counters.buffer) {
      throw Error(fmt::format("{}: a matmul with a norm needs one batch, beta, an output and counters", label));
    }
    if (n.counters.buffer->bytes() < (uint64_t(n.counters.offset) + s.M) * 4) {
      throw Error(fmt::format("{}: the norm counters '{}' hold fewer than {} at offset {}", label,
                              n.counters.buffer->name(), s.M, n.counters.offset));
    }
    s.accumulate = true;
  }
  const std::string_view variant = matmul_variant(context, s, element);
  if (variant == kCoopmatShader) {
    record_matmul_coopmat(sequence, context, a, b, bias, c, s, label);
    return;
  }
  const vk::BufferView b_view = quantized ? b.buffer->uint_view() : b.buffer->vec4_view();
  if (element == Element::f16 && !b_view) {
    throw Error(fmt::format("{}: f16 matrix '{}' has no texel view", label, b.buffer->name()));
  }
  const bool vec4 = aligned(4, {s.K, a.offset, s.lda, s.a_outer, s.a_inner, b.offset, s.ldb, s.b_outer, s.b_inner}) &&
                    a.buffer->vec4_view() && b_view;
  // B narrower than f32 whose rows start at multiples of 8 elements: the register and gemv kernels read it
  // 8 elements to a fetch of its uint view (B_PACKED in matmul_common.glsl).
  const bool packed = vec4 && element != Element::f32 && s.b_transposed && b.buffer->uint_view() &&
                      aligned(8, {b.offset, s.ldb, s.b_outer, s.b_inner});
  const uint32_t flags = (bias.buffer ? 1u : 0u) | (vec4 ? 2u : 0u) | (element == Element::f16 ? 4u : 0u) |
                         (uint32_t(s.activation) << 8);
  const Push push{s.M, s.N, s.K, a.offset, b.offset, c.offset, bias.offset, s.lda, s.ldb, s.ldc, s.batch_inner,
                  s.a_outer, s.a_inner, s.b_outer, s.b_inner, s.c_outer, s.c_inner, s.alpha, flags,
                  s.b_scale.offset};

  const Tuning& t = context.tuning();
  const bool gemv = variant.starts_with("matmul_gemv");
  std::vector<uint32_t> specialization;
  std::array<uint32_t, 3> groups{1, 1, s.batch};
  if (gemv) {
    // Rows per workgroup: M rounded up to a power of two, at most gemv_rows (whose k-split partial sums
    // the tuning check has fitted into shared memory: tuning_misfits). Fewer rows per
    // workgroup read B more often but make more workgroups: halve them (down to 4) while there are fewer
    // than gemv_min_groups.
    uint32_t rows = 1;
    while (rows < std::min(s.M, t.gemv_rows)) rows *= 2;
    // Without k-splitting each invocation computes 4 columns (CPU_COLS in matmul_gemv.comp).
    groups[0] = ceil_div(s.N, t.gemv_k_split == 1 ? t.gemv_wg * 4 : t.gemv_wg / t.gemv_k_split);
    while (rows > 4 && uint64_t(groups[0]) * ceil_div(s.M, rows) * s.batch < t.gemv_min_groups) rows /= 2;
    specialization = {t.gemv_wg, 1u, t.gemv_k_split, rows};
    groups[1] = ceil_div(s.M, rows);
  } else {
    const auto [tm, tn] = register_block(t, s.M);
    specialization = {t.matmul_wg_x, s.b_transposed, t.matmul_wg_y, tm, tn, t.matmul_tile_k};
    if (!t.matmul_tiled) specialization.push_back(vec4);  // VEC4 of matmul.comp: one pipeline per load width
    groups[0] = ceil_div(s.N, uint64_t(t.matmul_wg_x) * tn);
    groups[1] = ceil_div(s.M, uint64_t(t.matmul_wg_y) * tm);
  }
  const bool lanes = variant.ends_with("_lanes");
  const uint32_t a_lanes = lanes ? matmul_a_lanes(context, gemv) : 1;
  // gemv's lanes take B's texels in pairs.
  const bool b_packed = packed && (gemv ? !lanes || a_lanes % 2 == 0 : !t.matmul_tiled);
  if (quantized || s.accumulate || lanes || b_packed) {
    // B_KIND, ACCUMULATE and B_PACKED are constants 7, 8 and 10 in every matmul shader, A_LANES 9 in the
    // _lanes builds.
    const uint32_t kind = element == Element::bf16 ? 1 : element == Element::i8 ? 2 : element == Element::i16 ? 3 : 0;
    specialization.resize(7);
    specialization.insert(specialization.end(), {kind, s.accumulate, a_lanes, b_packed});
  }
  // Texel bindings in matmul_common.glsl: a4, b4, b8 (uint) and scale4. The views a binding cannot use
  // (b4 of a quantized B, b8 of an f32 B) are placeholders, never read.
  constexpr uint32_t kTexelBindings = (1u << 1) | (1u << 3) | (1u << 6) | (1u << 7), kUintBindings = 1u << 6;
  const Kernel& kernel = context.kernel({.shader = std::string(variant), .bindings = norm ? 12u : 8u,
                                         .texel_bindings = kTexelBindings, .uint_texel_bindings = kUintBindings,
                                         .push_constant_bytes = norm ? uint32_t(sizeof(NormPush)) : uint32_t(sizeof(Push)),
                                         .specialization = specialization});
  const Buffer* bias_buffer = bias.buffer ? bias.buffer : a.buffer;  // bound but unread without the bias flag
  const Buffer* scale_buffer = scaled ? s.b_scale.buffer : a.buffer;
  const double batch = s.batch, m = s.M, n = s.N, k = s.K;
  // The norm reads the sum back and writes the normed rows: two more passes over C.
  const DispatchCost cost{.flops = 2 * m * n * k * batch,
                          .bytes = (4 * (m * k + m * n * (s.accumulate ? 2 : 1) + (norm ? 2 * m * n : 0)) +
                                    element_bytes(element) * n * k) * batch};
  if (!norm) {
    sequence.dispatch(kernel, {a.buffer, a.buffer, b.buffer, b.buffer, bias_buffer, c.buffer, b.buffer, scale_buffer},
                      push, groups, label, cost);
    return;
  }
  const MatmulNorm& nm = s.norm;
  const NormPush norm_push{push, nm.counters.offset, nm.gamma.offset, nm.beta.offset, nm.out.offset, nm.eps};
  sequence.dispatch(kernel,
                    {a.buffer, a.buffer, b.buffer, b.buffer, bias_buffer, c.buffer, b.buffer, scale_buffer,
                     nm.counters.buffer, nm.gamma.buffer, nm.beta.buffer, nm.out.buffer},
                    norm_push, groups, label, cost);
}

}  // namespace vkformer
