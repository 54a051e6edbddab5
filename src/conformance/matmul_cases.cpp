#include <cmath>

#include <fmt/format.h>

#include "cases.hpp"
#include "check.hpp"
#include "reference.hpp"
#include "vkformer/half.hpp"
#include "vkformer/ops/matmul.hpp"

namespace vkformer::conformance {

// fp32 accumulation over K <= 2048 of products of magnitude <= 1: worst case about K * 2^-24 = 1.2e-4
// relative to max(|c|, 1); observed errors are far smaller, so nmse is held tight.
static constexpr Tolerance kTolerance{.max_rel = 2e-4, .nmse = 1e-10};

namespace {
struct Layout {
  MatmulShape shape;
  uint32_t a_size, b_size, c_size;
  uint32_t a_offset = 0, b_offset = 0;  // element offsets; odd ones force the scalar path
  uint32_t c_offset = 0;
  uint32_t bias_offset = 0;
  bool bias = false;
  // B stored as f16 (weights under --precision f16, read through its texel view), or bf16, i8 or i16
  // (CTranslate2's weights: quantized_matrix), the scales of i8 and i16 at scale_offset of their buffer.
  Element b_element = Element::f32;
  uint32_t scale_offset = 0;
  // The residual add and LayerNorm in the epilogue (MatmulShape::norm): in place (post-norm, x =
  // LayerNorm(x + f)) or into a separate output (pre-norm: x += f, out = LayerNorm(x)).
  enum class Norm { none, in_place, separate } norm = Norm::none;
  std::string name;
};

Layout dense(uint32_t M, uint32_t N, uint32_t K, bool b_transposed = true) {
  Layout l;
  l.shape = {.M = M, .N = N, .K = K, .b_transposed = b_transposed};
  l.a_size = M * K;
  l.b_size = N * K;
  l.c_size = M * N;
  l.name = fmt::format("{}x{}x{}{}", M, N, K, b_transposed ? "" : " NN");
  return l;
}

// `batch` independent dense products back to back, each with partial blocks of C: many workgroups
// of a strided batch at once.
Layout batched(uint32_t M, uint32_t N, uint32_t K, uint32_t batch, bool b_transposed = true) {
  Layout l = dense(M, N, K, b_transposed);
  l.shape.batch = batch;
  l.shape.a_outer = M * K;
  l.shape.b_outer = N * K;
  l.shape.c_outer = M * N;
  l.a_size *= batch;
  l.b_size *= batch;
  l.c_size *= batch;
  l.name += fmt::format(" batch{}", batch);
  return l;
}

// Attention's two products over [batch, seq, heads*head_dim] activations, read in place.
Layout attention_scores(uint32_t batch, uint32_t heads, uint32_t q_len, uint32_t k_len, uint32_t head_dim) {
  const uint32_t d = heads * head_dim;
  Layout l;
  l.shape = {.M = q_len, .N = k_len, .K = head_dim, .lda = d, .ldb = d, .ldc = k_len, .batch = batch * heads,
             .batch_inner = heads, .a_outer = q_len * d, .a_inner = head_dim, .b_outer = k_len * d,
             .b_inner = head_dim, .c_outer = heads * q_len * k_len, .c_inner = q_len * k_len, .alpha = 0.125f};
  l.a_size = batch * q_len * d;
  l.b_size = batch * k_len * d;
  l.c_size = batch * heads * q_len * k_len;
  l.name = fmt::format("QK^T b{} h{} {}x{} d{}", batch, heads, q_len, k_len, head_dim);
  return l;
}

Layout attention_values(uint32_t batch, uint32_t heads, uint32_t q_len, uint32_t k_len, uint32_t head_dim) {
  const uint32_t d = heads * head_dim;
  Layout l;
  l.shape = {.M = q_len, .N = head_dim, .K = k_len, .lda = k_len, .ldb = d, .ldc = d, .batch = batch * heads,
             .batch_inner = heads, .a_outer = heads * q_len * k_len, .a_inner = q_len * k_len,
             .b_outer = k_len * d, .b_inner = head_dim, .c_outer = q_len * d, .c_inner = head_dim,
             .b_transposed = false};
  l.a_size = batch * heads * q_len * k_len;
  l.b_size = batch * k_len * d;
  l.c_size = batch * q_len * d;
  l.name = fmt::format("PV b{} h{} {}x{} d{}", batch, heads, q_len, k_len, head_dim);
  return l;
}

// C as the kernel leaves it, from its elements before the run (`initial`, c_offset + c_size of them):
// written elements take the product (plus their old value when accumulating), the others stay.
std::vector<double> reference(const Layout& l, const std::vector<float>& a, const std::vector<double>& b,
                              const std::vector<float>& bias, const std::vector<float>& initial) {
  const MatmulShape& s = l.shape;
  const uint32_t lda = s.lda ? s.lda : s.K;
  const uint32_t ldb = s.ldb ? s.ldb : (s.b_transposed ? s.K : s.N);
  const uint32_t ldc = s.ldc ? s.ldc : s.N;
  std::vector<double> c(initial.begin(), initial.end());
  for (uint32_t z = 0; z < s.batch; ++z) {
    const uint32_t outer = z / s.batch_inner, inner = z % s.batch_inner;
    const size_t a0 = l.a_offset + outer * s.a_outer + inner * s.a_inner;
    const size_t b0 = l.b_offset + outer * s.b_outer + inner * s.b_inner;
    const size_t c0 = l.c_offset + outer * s.c_outer + inner * s.c_inner;
    for (uint32_t m = 0; m < s.M; ++m) {
      for (uint32_t n = 0; n < s.N; ++n) {
        double sum = 0;
        for (uint32_t k = 0; k < s.K; ++k) {
          const double bv = s.b_transposed ? b[b0 + size_t(n) * ldb + k] : b[b0 + size_t(k) * ldb + n];
          sum += double(a[a0 + size_t(m) * lda + k]) * bv;
        }
        double value = double(s.alpha) * sum + (l.bias ? double(bias[l.bias_offset + n]) : 0.0);
        double& out = c[c0 + size_t(m) * ldc + n];
        out = activate_reference(value, uint32_t(s.activation)) + (s.accumulate ? out : 0.0);
      }
    }
  }
  return c;
}

// Each written row of C (m < M, n < N) normalized as layer_norm does, in fp64: into `out`'s same elements.
void normalize_rows(const Layout& l, const std::vector<double>& c, const std::vector<float>& gamma,
                    const std::vector<float>& beta, double eps, std::vector<double>& out) {
  const uint32_t ldc = l.shape.ldc ? l.shape.ldc : l.shape.N, N = l.shape.N;
  for (uint32_t m = 0; m < l.shape.M; ++m) {
    const size_t row = l.c_offset + size_t(m) * ldc;
    double mean = 0, variance = 0;
    for (uint32_t n = 0; n < N; ++n) mean += c[row + n];
    mean /= N;
    for (uint32_t n = 0; n < N; ++n) variance += (c[row + n] - mean) * (c[row + n] - mean);
    variance /= N;
    for (uint32_t n = 0; n < N; ++n) out[row + n] = (c[row + n] - mean) / std::sqrt(variance + eps) * gamma[n] + beta[n];
  }
}

Result run(Context& context, const Layout& l) {
  const auto a = random_values(l.a_offset + l.a_size, 11 + l.a_size);
  const bool quantized = integer_element(l.b_element);
  std::vector<double> b;
  Buffer b_buffer, scale_buffer;
  MatmulShape shape = l.shape;
  if (quantized) {
    // One [N, K] matrix (record_matmul's rule for these elements) after b_offset unread elements.
    const QuantizedMatrix q = quantized_matrix(l.b_element, l.shape.N, l.shape.K, 12 + l.b_size);
    b.assign(l.b_offset, 0.0);
    b.insert(b.end(), q.values.begin(), q.values.end());
    b_buffer = guarded_quantized_buffer(context, q, l.b_offset, "b");
    if (!q.scales.empty()) {
      std::vector<float> scales = random_values(l.scale_offset, 14);  // other blocks' scales
      scales.insert(scales.end(), q.scales.begin(), q.scales.end());
      scale_buffer = guarded_buffer(context, scales, "b scales");
      shape.b_scale = {&scale_buffer, kGuard + l.scale_offset};
    }
  } else {
    const auto values = random_values(l.b_offset + l.b_size, 12 + l.b_size);
    for (float value : values) b.push_back(l.b_element == Element::f16 ? half_to_float(float_to_half(value)) : value);
    std::vector<float> stored(b.begin(), b.end());
    b_buffer = l.b_element == Element::f16 ? guarded_f16_buffer(context, stored, "b")
                                           : guarded_buffer(context, stored, "b");
  }
  const auto bias = random_values(l.bias_offset + l.shape.N, 13);
  // Accumulating into C: C holds the residual, every element of it (the skipped ones must stay as well).
  const size_t c_count = l.c_offset + l.c_size;
  const auto initial = l.shape.accumulate ? random_values(c_count, 15) : std::vector<float>(c_count, kSentinel);
  auto expected = reference(l, a, b, bias, initial);
  Buffer a_buffer = guarded_buffer(context, a, "a");
  Buffer bias_buffer = guarded_buffer(context, bias, "bias");
  Buffer c_buffer = guarded_buffer(context, initial, "c");
  // The norm: gamma near 1, its counters at an offset (zero before, and left zero by the kernel), the
  // separate output laid out as C. Both runs must see zeroed counters: the second checks the reset.
  const double eps = 1e-5;
  auto gamma = random_values(l.shape.N, 16, 0.5f);
  for (auto& g : gamma) g += 1.0f;
  const auto beta = random_values(l.shape.N, 17, 0.5f);
  const uint32_t counter_offset = 5;
  const std::vector<float> zero_counters(counter_offset + l.shape.M, 0.0f);  // uint 0 has float 0's bits
  Buffer gamma_buffer = guarded_buffer(context, gamma, "gamma");
  Buffer beta_buffer = guarded_buffer(context, beta, "beta");
  Buffer counters = guarded_buffer(context, zero_counters, "norm counters");
  Buffer normed = guarded_output(context, c_count, "normed");
  std::vector<double> expected_normed(c_count, kSentinel);
  if (l.norm != Layout::Norm::none) {
    Buffer& out = l.norm == Layout::Norm::in_place ? c_buffer : normed;
    shape.norm = {.gamma = {&gamma_buffer, kGuard}, .beta = {&beta_buffer, kGuard}, .out = {&out, kGuard + l.c_offset},
                  .counters = {&counters, kGuard + counter_offset}, .eps = float(eps)};
    const std::vector<double> sums = expected;
    normalize_rows(l, sums, gamma, beta, eps, l.norm == Layout::Norm::in_place ? expected : expected_normed);
  }
  Sequence sequence(context, "conformance matmul", true);
  run_once(context, sequence, [&](Sequence& s) {
    record_matmul(s, context, {&a_buffer, kGuard + l.a_offset}, {&b_buffer, kGuard + l.b_offset},
                  l.bias ? View{&bias_buffer, kGuard + l.bias_offset} : View{}, {&c_buffer, kGuard + l.c_offset},
                  shape);
  }, [&] {
    if (!l.shape.accumulate) return;
    std::vector<float> padded(initial.size() + 2 * kGuard, kSentinel);
    std::copy(initial.begin(), initial.end(), padded.begin() + kGuard);
    c_buffer.upload(std::span<const float>(padded));
  });
  Comparison comparison = compare_guarded(c_buffer, expected);
  if (l.norm != Layout::Norm::none) {
    merge(comparison, compare_guarded(counters, std::vector<double>(zero_counters.size(), 0.0)));
    if (l.norm == Layout::Norm::separate) merge(comparison, compare_guarded(normed, expected_normed));
  }
  return finish(std::string(matmul_variant(context, shape)), l.name, comparison, kTolerance, sequence);
}
}  // namespace

std::vector<Case> matmul_cases() {
  std::vector<Layout> layouts;
  for (auto [m, n, k] : std::initializer_list<std::array<uint32_t, 3>>{
           {1, 1, 1}, {7, 13, 5}, {33, 65, 129}, {64, 2048, 512}, {1, 512, 512}, {1, 2048, 512}, {2, 3, 4},
           {5, 1000, 24}, {8, 97, 36}, {9, 97, 36}, {17, 31, 2048}, {130, 67, 3}}) {
    layouts.push_back(dense(m, n, k));
  }
  for (auto [m, n, k] : std::initializer_list<std::array<uint32_t, 3>>{
           {1, 1, 1}, {7, 13, 5}, {33, 64, 129}, {16, 12, 40}, {32, 13, 40}}) {
    layouts.push_back(dense(m, n, k, false));
  }
  // Row counts the register kernel runs in tall blocks (Tuning::matmul_tall_tm, 32 under cpu): ragged
  // columns, odd K (scalar loads), a bias.
  for (auto [m, n, k] : std::initializer_list<std::array<uint32_t, 3>>{{32, 37, 64}, {96, 70, 129}, {64, 13, 40}}) {
    Layout l = dense(m, n, k);
    l.bias = true;
    l.name += " bias";
    layouts.push_back(l);
  }
  // Misaligned starts force the scalar-load path of every kernel.
  for (uint32_t m : {1u, 3u, 33u}) {
    Layout l = dense(m, 37, 64);
    l.a_offset = 1;
    l.b_offset = 3;
    l.name += " unaligned";
    layouts.push_back(l);
  }
  for (uint32_t act = 0; act < 4; ++act) {
    for (uint32_t m : {2u, 19u}) {
      Layout l = dense(m, 70, 48);
      l.bias = true;
      l.shape.activation = Activation(act);
      l.shape.alpha = act == 0 ? 0.5f : 1.0f;
      l.name += fmt::format(" bias act{}", act);
      layouts.push_back(l);
    }
  }
  // C starting inside the buffer (at an odd element too): the elements before it stay untouched.
  for (auto [m, n, offset] : std::initializer_list<std::array<uint32_t, 3>>{{2, 72, 1}, {19, 72, 2}, {19, 76, 4}, {5, 76, 4}}) {
    Layout l = dense(m, n, 40);
    l.bias = true;
    l.c_offset = offset;
    l.name += fmt::format(" bias C+{}", offset);
    layouts.push_back(l);
  }
  // One row block of a split output matrix: N columns of a C row of ldc, at a column (and bias) offset.
  for (auto [m, n, k] : std::initializer_list<std::array<uint32_t, 3>>{{1, 37, 64}, {5, 40, 36}, {33, 72, 48}}) {
    for (const bool f16 : {false, true}) {
      Layout l = dense(m, n, k);
      l.bias = true;
      l.b_element = f16 ? Element::f16 : Element::f32;
      l.shape.ldc = 3 * n + 5;
      l.c_offset = l.bias_offset = n + 3;
      l.c_size = m * l.shape.ldc;
      if (m == 33) l.shape.kernel = MatmulKernel::blocked;  // every tuning runs fewer rows on gemv
      l.name += fmt::format(" bias column block of {} at {}{}", l.shape.ldc, l.c_offset, f16 ? " f16 B" : "");
      layouts.push_back(l);
    }
  }
  // f16 weights: vec4 texel loads, the gemv path, and (K % 4, odd offsets) element loads from the view.
  for (Layout l : {dense(64, 2048, 512), dense(1, 512, 512), dense(5, 1000, 24), dense(9, 97, 36), dense(33, 65, 129),
                   dense(3, 37, 64)}) {
    l.b_element = Element::f16;
    l.bias = l.shape.M == 9;
    if (l.shape.M == 3) l.b_offset = 3;
    l.name += l.shape.M == 3 ? " f16 B unaligned" : " f16 B";
    layouts.push_back(l);
  }
  // f16 B rows 48 apart with K = 44: read 8 elements to a fetch, then one vec4 step (B_PACKED's tail);
  // at offset 4 the rows are vec4 texels but not 8-element ones. The tuning's choice for 3 and 33 rows,
  // and gemv forced over 33.
  for (const uint32_t offset : {0u, 4u}) {
    for (const auto& [m, kernel] : {std::pair{3u, MatmulKernel::automatic}, std::pair{33u, MatmulKernel::automatic},
                                   std::pair{33u, MatmulKernel::gemv}}) {
      Layout l = dense(m, 40, 44);
      l.shape.kernel = kernel;
      l.b_element = Element::f16;
      l.shape.ldb = 48;
      l.b_size = 40 * 48;
      l.b_offset = offset;
      l.name += fmt::format("{} f16 B rows of 48 at {}", kernel == MatmulKernel::gemv ? " gemv" : "", offset);
      layouts.push_back(l);
    }
  }
  // Each kernel beyond the shapes the tunings give it: gemv in row blocks (M > gemv_rows, partial last
  // block, bias, unaligned, f16, batched), the blocked kernels on few rows.
  const auto forced = [](Layout l, MatmulKernel kernel) {
    l.shape.kernel = kernel;
    l.name += kernel == MatmulKernel::gemv ? " gemv" : " blocked";
    return l;
  };
  for (auto [m, n, k] : std::initializer_list<std::array<uint32_t, 3>>{{16, 97, 36}, {32, 512, 512}, {24, 1000, 24},
                                                                       {100, 37, 64}, {9, 2048, 512}, {40, 1200, 64}}) {
    layouts.push_back(forced(dense(m, n, k), MatmulKernel::gemv));
  }
  {
    Layout l = dense(40, 70, 48);
    l.bias = true;
    l.shape.activation = Activation(1);
    l.name += " bias act1";
    layouts.push_back(forced(l, MatmulKernel::gemv));
    l = dense(67, 37, 64);
    l.a_offset = 1;
    l.b_offset = 3;
    l.name += " unaligned";
    layouts.push_back(forced(l, MatmulKernel::gemv));
    l = dense(33, 65, 128);
    l.b_element = Element::f16;
    l.name += " f16 B";
    layouts.push_back(forced(l, MatmulKernel::gemv));
    layouts.push_back(forced(attention_scores(2, 8, 33, 29, 64), MatmulKernel::gemv));
  }
  for (Layout l : {dense(1, 512, 512), dense(5, 1000, 24), dense(8, 97, 36)}) {
    layouts.push_back(forced(l, MatmulKernel::blocked));
  }
  layouts.push_back(batched(130, 260, 36, 48));
  layouts.push_back(batched(129, 257, 37, 48, false));
  {
    Layout l = batched(136, 264, 40, 48);
    l.b_element = Element::f16;
    l.bias = true;
    l.name += " f16 B bias";
    layouts.push_back(l);
  }
  // CTranslate2's weights, widened in every kernel: gemv (M 1 and 3 by every tuning's choice, vec4 loads and
  // K = 37's element loads; 17 rows over K = 2048 in row blocks), the blocked kernels (vec4 with bias and
  // GELU; K = 129 and B at an odd offset: element loads), and one column block of a split output matrix
  // whose i8 scales start inside their buffer.
  for (const Element element : {Element::bf16, Element::i8, Element::i16}) {
    std::vector<Layout> quantized;
    {
      Layout l = dense(1, 37, 64);
      l.bias = true;
      l.shape.activation = Activation::swish;
      l.name += " bias act3";
      quantized.push_back(l);
    }
    quantized.push_back(dense(3, 97, 37));
    quantized.push_back(dense(40, 70, 128));  // the tuning's blocked kernel (cpu: matmul_lanes)
    quantized.push_back(forced(dense(17, 70, 2048), MatmulKernel::gemv));
    {
      Layout l = dense(64, 131, 128);
      l.bias = true;
      l.shape.activation = Activation::gelu;
      l.shape.alpha = 0.5f;
      l.name += " bias act2";
      quantized.push_back(forced(l, MatmulKernel::blocked));
      l = dense(67, 45, 129);
      l.b_offset = 3;
      l.name += " unaligned";
      quantized.push_back(forced(l, MatmulKernel::blocked));
    }
    {
      Layout l = dense(3, 40, 36);
      l.bias = true;
      l.shape.ldc = 3 * 40 + 5;
      l.c_offset = l.bias_offset = l.scale_offset = 43;
      l.c_size = 3 * l.shape.ldc;
      l.name += " bias column block";
      quantized.push_back(l);
    }
    for (Layout& l : quantized) {
      l.b_element = element;
      l.name += fmt::format(" {} B", element_name(element));
      layouts.push_back(l);
    }
  }
  // C += A . B + bias (a pre-norm layer's residual add) in every kernel: the tuning's choice for 1, 3 and 9
  // rows; gemv and blocked forced over row blocks, odd K, unaligned A, a column block of C, f16 and
  // quantized B, and a batch.
  {
    std::vector<Layout> accumulating;
    for (auto [m, n, k] : std::initializer_list<std::array<uint32_t, 3>>{{1, 37, 64}, {3, 70, 48}, {9, 97, 36},
                                                                         {33, 65, 129}}) {
      accumulating.push_back(dense(m, n, k));
    }
    accumulating.push_back(forced(dense(19, 72, 40), MatmulKernel::gemv));
    accumulating.push_back(forced(dense(5, 76, 36), MatmulKernel::blocked));
    {
      Layout l = dense(17, 40, 37);
      l.a_offset = 1;
      l.name += " unaligned";
      accumulating.push_back(forced(l, MatmulKernel::gemv));
      accumulating.push_back(forced(l, MatmulKernel::blocked));
      l = dense(5, 40, 36);
      l.shape.ldc = 3 * 40 + 5;
      l.c_offset = l.bias_offset = 43;
      l.c_size = 5 * l.shape.ldc;
      l.name += " column block";
      accumulating.push_back(l);
    }
    for (const Element element : {Element::f16, Element::bf16, Element::i8, Element::i16}) {
      for (Layout l : {dense(1, 37, 64), dense(3, 97, 37), forced(dense(40, 45, 129), MatmulKernel::blocked)}) {
        l.b_element = element;
        l.name += fmt::format(" {} B", element_name(element));
        accumulating.push_back(l);
      }
    }
    accumulating.push_back(batched(33, 70, 36, 3));
    for (Layout& l : accumulating) {
      l.bias = true;
      l.shape.accumulate = true;
      l.name += " bias accumulate";
      layouts.push_back(l);
    }
  }
  // The residual add and LayerNorm in the epilogue, in place and into another buffer: the tuning's kernel for
  // 1, 3, 9 and 70 rows (one row block or several, several column workgroups per block); each kernel forced
  // over more rows than one block, partial blocks, a column count of 1 and odd ones, odd K, unaligned A, a
  // column block of C (row stride > N), f16 and i8 B.
  {
    std::vector<Layout> norming;
    for (auto [m, n, k] : std::initializer_list<std::array<uint32_t, 3>>{{1, 512, 64}, {3, 70, 48}, {9, 97, 36},
                                                                         {70, 260, 33}, {2, 1, 8}}) {
      norming.push_back(dense(m, n, k));
    }
    for (const MatmulKernel kernel : {MatmulKernel::gemv, MatmulKernel::blocked}) {
      norming.push_back(forced(dense(67, 300, 40), kernel));
      norming.push_back(forced(dense(17, 33, 129), kernel));
      Layout l = dense(19, 40, 37);
      l.a_offset = 1;
      l.name += " unaligned";
      norming.push_back(forced(l, kernel));
      l = dense(5, 40, 36);
      l.shape.ldc = 3 * 40 + 5;
      l.c_offset = l.bias_offset = 43;
      l.c_size = 5 * l.shape.ldc;
      l.name += " column block";
      norming.push_back(forced(l, kernel));
    }
    for (const Element element : {Element::f16, Element::i8}) {
      for (Layout l : {dense(3, 97, 36), forced(dense(40, 45, 64), MatmulKernel::blocked)}) {
        l.b_element = element;
        l.name += fmt::format(" {} B", element_name(element));
        norming.push_back(l);
      }
    }
    for (Layout l : norming) {
      l.bias = true;
      l.shape.accumulate = true;
      for (const auto norm : {Layout::Norm::in_place, Layout::Norm::separate}) {
        l.norm = norm;
        Layout named = l;
        named.name += norm == Layout::Norm::in_place ? " bias norm in place" : " bias norm out";
        layouts.push_back(named);
      }
    }
  }
  layouts.push_back(attention_scores(2, 4, 7, 7, 8));
  layouts.push_back(attention_scores(3, 3, 1, 19, 12));
  layouts.push_back(attention_scores(2, 8, 33, 29, 64));
  layouts.push_back(attention_values(2, 4, 7, 7, 8));
  layouts.push_back(attention_values(3, 3, 1, 19, 12));
  layouts.push_back(attention_values(2, 8, 33, 29, 64));

  std::vector<Case> cases;
  for (const auto& l : layouts) {
    cases.push_back({"matmul", l.name, [l](Context& context) { return run(context, l); }});
  }
  return cases;
}

}  // namespace vkformer::conformance
