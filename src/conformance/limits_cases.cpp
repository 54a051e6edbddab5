#include <fmt/format.h>

#include "cases.hpp"
#include "check.hpp"
#include "vkformer/half.hpp"
#include "vkformer/ops/limits.hpp"

namespace vkformer::conformance {

// The chains of peak_fma.comp in fp64: rounding of up to a few hundred steps of a contracting map
// (|y| < 1) stays within a few ulps of each chain's fixed point, times 1 / (1 - y): within fp32's 1e-5 of
// the sum for y near 0.999, within f16's (ulp 2^-11 at 0.5, y at most 0.875) 1e-2.
static constexpr Tolerance kPeakTolerance{.max_rel = 1e-5, .nmse = 1e-10};
static constexpr Tolerance kPeakF16Tolerance{.max_rel = 1e-2, .nmse = 1e-5};
static constexpr Tolerance kCopyTolerance{.max_rel = 0, .nmse = 0};

static Result run_peak(Context& context, uint32_t count, uint32_t iterations, Element arithmetic) {
  const bool f16 = arithmetic == Element::f16;
  const std::string op = f16 ? "peak_fma_f16" : "peak_fma", shape = fmt::format("{} x{}", count, iterations);
  if (f16 && !context.float16()) {
    return {.op = op, .shape = shape, .skipped = true,
            .note = "not applicable: the device has no shaderFloat16 on Vulkan 1.2"};
  }
  std::vector<double> expected(count);
  const double y32[4] = {0.999f, 0.998f, 0.997f, 0.996f}, z32[4] = {0.001f, 0.002f, 0.003f, 0.004f};
  const double y16[4] = {0.5, 0.625, 0.75, 0.875}, z16[4] = {0.25, 0.125, 0.0625, 0.03125};  // exact in f16
  const double* y = f16 ? y16 : y32;
  const double* z = f16 ? z16 : z32;
  for (uint32_t i = 0; i < count; ++i) {
    const double seed = double(i % 1024) / 1024.0;
    double sum = 0;
    for (uint32_t c = 0; c < kPeakFmaChains; ++c) {
      for (uint32_t lane = 0; lane < 4; ++lane) {
        const float start = float(seed + 0.25 * lane) + float(c) / 8.0f;
        double x = f16 ? double(half_to_float(float_to_half(start))) : double(start);
        for (uint32_t t = 0; t < iterations; ++t) x = x * y[lane] + z[lane];
        sum += x;
      }
    }
    expected[i] = sum;
  }
  Buffer out = guarded_output(context, count, "out");
  Sequence sequence(context, "conformance " + op, true);
  run_once(context, sequence,
           [&](Sequence& s) { record_peak_fma(s, context, {&out, kGuard}, count, iterations, arithmetic); });
  return finish(op, shape, compare_guarded(out, expected), f16 ? kPeakF16Tolerance : kPeakTolerance, sequence);
}

static Result run_copy(Context& context, uint32_t vec4s) {
  const auto values = random_values(size_t(vec4s) * 4, 7 + vec4s);
  const std::vector<double> expected(values.begin(), values.end());
  Buffer in = guarded_buffer(context, values, "in");
  Buffer out = guarded_output(context, values.size(), "out");
  Sequence sequence(context, "conformance copy", true);
  run_once(context, sequence, [&](Sequence& s) { record_copy(s, context, {&in, kGuard}, {&out, kGuard}, vec4s); });
  return finish("copy", fmt::format("{} vec4", vec4s), compare_guarded(out, expected), kCopyTolerance, sequence);
}

std::vector<Case> limits_cases() {
  std::vector<Case> cases;
  for (Element arithmetic : {Element::f32, Element::f16}) {
    const std::string op = arithmetic == Element::f16 ? "peak_fma_f16" : "peak_fma";
    for (auto [count, iterations] : std::initializer_list<std::array<uint32_t, 2>>{{1, 1}, {1000, 64}, {4099, 300}}) {
      cases.push_back({op, fmt::format("{}", count), [=](Context& c) { return run_peak(c, count, iterations, arithmetic); }});
    }
  }
  // More than 1024 workgroups of 256 hold, so invocations stride.
  for (uint32_t vec4s : {1u, 257u, 1024u * 256u + 3u}) {
    cases.push_back({"copy", fmt::format("{}", vec4s), [=](Context& c) { return run_copy(c, vec4s); }});
  }
  return cases;
}

}  // namespace vkformer::conformance
