// The tensor-core matmul (shaders/matmul_coopmat.comp) against an fp64 reference. It runs where the
// context's tuning uses cooperative matrices (nvidia-coopmat, on a device that has them); elsewhere every
// case reports itself skipped, never passed.
#include <fmt/format.h>

#include "cases.hpp"
#include "check.hpp"
#include "reference.hpp"
#include "vkformer/half.hpp"
#include "vkformer/ops/matmul_coopmat.hpp"

namespace vkformer::conformance {

// The kernel rounds A to f16 and the reference rounds it the same way (to nearest even: Vulkan lets a
// conversion round either way, NVIDIA's rounds to nearest). B is f16 in both. Products of two f16 are
// exact in f32, so what is left is f32 accumulation in another order, on tensor cores whose adds may
// truncate (up to 2^-23 each, twice the f32 kernels' 2^-24): 5x the f32 kernels' max_rel, and an nmse
// that a conversion by truncation (about 1e-7 here) would exceed. Not yet run on a GPU.
static constexpr Tolerance kTolerance{.max_rel = 1e-3, .nmse = 1e-8};

namespace {
struct Layout {
  MatmulShape shape;
  uint32_t a_offset = 0, b_offset = 0;  // element offsets; not multiples of 4 (8 for B): scalar loads
  uint32_t c_offset = 0, bias_offset = 0;
  bool bias = false;
  std::string name;
};

Layout dense(uint32_t M, uint32_t N, uint32_t K, MatmulKernel kernel = MatmulKernel::cooperative) {
  return {.shape = {.M = M, .N = N, .K = K, .kernel = kernel}, .name = fmt::format("{}x{}x{} f16 B", M, N, K)};
}

// C as the kernel leaves it, from `initial` (c_offset + M * ldc elements).
std::vector<double> reference(const Layout& l, const std::vector<float>& a, const std::vector<float>& b,
                              const std::vector<float>& bias, const std::vector<float>& initial) {
  const MatmulShape& s = l.shape;
  const uint32_t ldc = s.ldc ? s.ldc : s.N;
  std::vector<double> a16(a.size());
  for (size_t i = 0; i < a.size(); ++i) a16[i] = half_to_float(float_to_half(a[i]));
  std::vector<double> c(initial.begin(), initial.end());
  for (uint32_t m = 0; m < s.M; ++m) {
    for (uint32_t n = 0; n < s.N; ++n) {
      double sum = 0;
      for (uint32_t k = 0; k < s.K; ++k) {
        sum += a16[l.a_offset + size_t(m) * s.K + k] * double(b[l.b_offset + size_t(n) * s.K + k]);
      }
      const double value = double(s.alpha) * sum + (l.bias ? double(bias[l.bias_offset + n]) : 0.0);
      double& out = c[l.c_offset + size_t(m) * ldc + n];
      out = activate_reference(value, uint32_t(s.activation)) + (s.accumulate ? out : 0.0);
    }
  }
  return c;
}

Result run(Context& context, const Layout& l) {
  if (const auto why = coopmat_misfit(context, l.shape, Element::f16); !why.empty()) {
    return {.op = std::string(kCoopmatShader), .shape = l.name, .skipped = true, .note = "not applicable: " + why};
  }
  const MatmulShape& s = l.shape;
  const auto a = random_values(l.a_offset + size_t(s.M) * s.K, 21 + s.M * s.K);
  std::vector<float> b = random_values(l.b_offset + size_t(s.N) * s.K, 22 + s.N * s.K);
  for (float& value : b) value = half_to_float(float_to_half(value));
  const auto bias = random_values(l.bias_offset + s.N, 23);
  const size_t c_count = l.c_offset + size_t(s.M) * (s.ldc ? s.ldc : s.N);
  const auto initial = s.accumulate ? random_values(c_count, 25) : std::vector<float>(c_count, kSentinel);
  const auto expected = reference(l, a, b, bias, initial);
  Buffer a_buffer = guarded_buffer(context, a, "a");
  Buffer b_buffer = guarded_f16_buffer(context, b, "b");
  Buffer bias_buffer = guarded_buffer(context, bias, "bias");
  Buffer c_buffer = guarded_buffer(context, initial, "c");
  Sequence sequence(context, "conformance matmul_coopmat", true);
  run_once(context, sequence, [&](Sequence& seq) {
    record_matmul(seq, context, {&a_buffer, kGuard + l.a_offset}, {&b_buffer, kGuard + l.b_offset},
                  l.bias ? View{&bias_buffer, kGuard + l.bias_offset} : View{}, {&c_buffer, kGuard + l.c_offset}, s);
  }, [&] {
    if (!s.accumulate) return;
    std::vector<float> padded(initial.size() + 2 * kGuard, kSentinel);
    std::copy(initial.begin(), initial.end(), padded.begin() + kGuard);
    c_buffer.upload(std::span<const float>(padded));
  });
  const std::string_view variant = matmul_variant(context, s, Element::f16);
  Result result = finish(std::string(variant), l.name, compare_guarded(c_buffer, expected), kTolerance, sequence);
  // The tuning's own choice must be this kernel too: these shapes have more rows than gemv takes.
  if (variant != kCoopmatShader) {
    result.passed = false;
    result.note += fmt::format("the tuning chose {}, not {}; ", variant, kCoopmatShader);
  }
  return result;
}
}  // namespace

std::vector<Case> matmul_coopmat_cases() {
  std::vector<Layout> layouts;
  // Partial tiles in every direction, one tile, many workgroups, K of one element to 2048.
  for (auto [m, n, k] : std::initializer_list<std::array<uint32_t, 3>>{
           {1, 1, 1}, {7, 13, 5}, {16, 16, 16}, {33, 65, 129}, {64, 2048, 512}, {129, 257, 64}, {300, 200, 96},
           {40, 70, 2048}}) {
    layouts.push_back(dense(m, n, k));
  }
  // K not a multiple of 8 (B's element loads) nor of 4 (A's too), and starts off alignment.
  layouts.push_back(dense(65, 97, 36));
  layouts.push_back(dense(65, 97, 37));
  {
    Layout l = dense(33, 37, 64);
    l.a_offset = 1;
    l.b_offset = 3;
    l.name += " unaligned";
    layouts.push_back(l);
  }
  // Bias with each activation (alpha 0.5 without one).
  for (uint32_t act = 0; act < 4; ++act) {
    Layout l = dense(130, 67, 36);
    l.bias = true;
    l.shape.activation = Activation(act);
    l.shape.alpha = act == 0 ? 0.5f : 1.0f;
    l.name += fmt::format(" bias act{}", act);
    layouts.push_back(l);
  }
  // One column block of a split output matrix: N columns of a C row of ldc, at a column (and bias) offset;
  // then the same added to C (a pre-norm layer's residual).
  for (const bool accumulate : {false, true}) {
    Layout l = dense(70, 40, 48);
    l.bias = true;
    l.shape.ldc = 3 * 40 + 5;
    l.c_offset = l.bias_offset = 43;
    l.shape.accumulate = accumulate;
    l.name += accumulate ? " bias column block accumulate" : " bias column block";
    layouts.push_back(l);
  }
  {
    Layout l = dense(100, 130, 72);
    l.bias = true;
    l.shape.accumulate = true;
    l.name += " bias accumulate";
    layouts.push_back(l);
  }
  // The tuning's own choice for more rows than gemv takes (an encoder's projections).
  for (auto [m, n, k] : std::initializer_list<std::array<uint32_t, 3>>{{130, 67, 36}, {300, 512, 512}}) {
    Layout l = dense(m, n, k, MatmulKernel::automatic);
    l.bias = true;
    l.name += " bias auto";
    layouts.push_back(l);
  }

  std::vector<Case> cases;
  for (const auto& l : layouts) {
    cases.push_back({"matmul_coopmat", l.name, [l](Context& context) { return run(context, l); }});
  }
  return cases;
}

}  // namespace vkformer::conformance
