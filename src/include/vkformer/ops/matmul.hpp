#pragma once
#include <string_view>

#include "vkformer/context.hpp"
#include "vkformer/ops/common.hpp"
#include "vkformer/sequence.hpp"

namespace vkformer {

// C[z] = act(alpha * A[z] . op(B[z]) + bias) (+ C[z]'s previous value with `accumulate`) for z < batch, with A [M, K] (row stride lda), B [N, K]
// (b_transposed, nn.Linear weights) or [K, N], C [M, N], bias [N]. Batch z = outer * batch_inner + inner;
// each operand has an element stride per outer and per inner index, so attention reads heads in place.
// A, C and the bias are f32; B may hold f16, or (stored [N, K]) bf16, i8 or i16, widened in the kernels.
// A sublayer's residual add and LayerNorm in the matmul's epilogue (the *_norm shaders): C = C + A.B + bias,
// then `out` = LayerNorm(C) per row with gamma, beta and eps (biased variance, as layer_norm). `out` may be C
// itself (post-norm: x = LayerNorm(x + f)) or another buffer (pre-norm: x += f, out = the next sublayer's
// normed input); it has C's row stride. `counters` holds one zeroed uint per row block of C (M of them
// always suffice) at its offset; the kernel leaves them zero. One batch. (Tuning::fuse_norm says whether
// the engine uses it.)
struct MatmulNorm {
  View gamma, beta, out, counters;
  float eps = 1e-5f;
};

// Which kernel runs a matmul: the tuning's choice, or (benchmarks, conformance) one of them forced.
// blocked: the tuning's tiled kernel, or its register kernel as built without lanes (matmul, never
// matmul_lanes); gemv likewise never matmul_gemv_lanes. cooperative: tensor cores
// (ops/matmul_coopmat.hpp), under a tuning that uses them.
enum class MatmulKernel { automatic, gemv, blocked, cooperative };

struct MatmulShape {
  uint32_t M = 1, N = 1, K = 1;
  uint32_t lda = 0, ldb = 0, ldc = 0;  // 0: dense (K; K or N; N)
  uint32_t batch = 1, batch_inner = 1;
  uint32_t a_outer = 0, a_inner = 0, b_outer = 0, b_inner = 0, c_outer = 0, c_inner = 0;
  bool b_transposed = true;
  float alpha = 1.0f;
  // B holding i8 or i16 (stored [N, K], one batch): f32 scales, w[n, k] = q[n, k] / b_scale[n] for i8,
  // q[n, k] / b_scale[0] for i16, read through the f32 buffer's vec4 view (a texel binding: only 4 storage
  // buffers are guaranteed). Unused (null buffer) for f32, f16 and bf16.
  View b_scale;
  Activation activation = Activation::none;
  // C += the product: a pre-norm layer's residual add (x = x + f) in the matmul, one dispatch instead of two.
  bool accumulate = false;
  // Set (gamma's buffer non-null): the residual add and LayerNorm in the epilogue; implies accumulate.
  MatmulNorm norm;
  MatmulKernel kernel = MatmulKernel::automatic;
};

// Which shader runs a shape: `gemv` for M <= the tuning's gemv_max_m with B [N, K], else matmul_coopmat
// where the tuning uses cooperative matrices and B (`b_element`) is one f16 [N, K] matrix without a norm,
// else the tuning's tiled or register kernel ("blocked"); gemv and the register kernel as their _lanes
// builds where matmul_a_lanes() > 1, there is no norm and the kernel is not forced. shape.kernel can force
// one (gemv needs B [N, K], cooperative what matmul_coopmat needs: an Error says why not). With a norm,
// that shader's `_norm` build.
std::string_view matmul_variant(const Context& context, const MatmulShape& shape, Element b_element = Element::f32);

// Lanes that share A's loads through subgroup shuffles in the register kernel (a row block's, matmul_lanes)
// or in gemv without k-splitting (a workgroup's, matmul_gemv_lanes): the tuning's matmul_a_lanes, halved
// until the device's subgroups hold them (shuffles, workgroups of one subgroup or whole ones) and, for the
// register kernel, they divide matmul_wg_x, matmul_tm and matmul_tall_tm; 1 where the tuning's kernel is
// not one of those.
uint32_t matmul_a_lanes(const Context& context, bool gemv = false);

void record_matmul(Sequence& sequence, Context& context, View a, View b, View bias, View c, MatmulShape shape,
                   std::string_view label = "matmul");

}  // namespace vkformer
