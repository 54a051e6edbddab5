#include <fmt/format.h>

#include "cases.hpp"
#include "check.hpp"
#include "vkformer/ops/limits.hpp"

namespace vkformer::conformance {

// The chains of peak_fma.comp in fp64: fp32 rounding of up to a few hundred steps of a contracting
// map (|y| < 1) stays within a few ulps of the sum's magnitude.
static constexpr Tolerance kPeakTolerance{.max_rel = 1e-5, .nmse = 1e-10};
static constexpr Tolerance kCopyTolerance{.max_rel = 0, .nmse = 0};

static Result run_peak(Context& context, uint32_t count, uint32_t iterations) {
  std::vector<double> expected(count);
  const double y[4] = {0.999f, 0.998f, 0.997f, 0.996f}, z[4] = {0.001f, 0.002f, 0.003f, 0.004f};
  for (uint32_t i = 0; i < count; ++i) {
    const double seed = double(i % 1024) / 1024.0;
    double sum = 0;
    for (uint32_t c = 0; c < kPeakFmaChains; ++c) {
      for (uint32_t lane = 0; lane < 4; ++lane) {
        double x = double(float(seed + 0.25 * lane) + float(c) / 8.0f);
        for (uint32_t t = 0; t < iterations; ++t) x = x * y[lane] + z[lane];
        sum += x;
      }
    }
    expected[i] = sum;
  }
  Buffer out = guarded_output(context, count, "out");
  Sequence sequence(context, "conformance peak fma", true);
  run_once(context, sequence, [&](Sequence& s) { record_peak_fma(s, context, {&out, kGuard}, count, iterations); });
  return finish("peak_fma", fmt::format("{} x{}", count, iterations), compare_guarded(out, expected), kPeakTolerance,
                sequence);
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
  for (auto [count, iterations] : std::initializer_list<std::array<uint32_t, 2>>{{1, 1}, {1000, 64}, {4099, 300}}) {
    cases.push_back({"peak_fma", fmt::format("{}", count), [=](Context& c) { return run_peak(c, count, iterations); }});
  }
  // More than 1024 workgroups of 256 hold, so invocations stride.
  for (uint32_t vec4s : {1u, 257u, 1024u * 256u + 3u}) {
    cases.push_back({"copy", fmt::format("{}", vec4s), [=](Context& c) { return run_copy(c, vec4s); }});
  }
  return cases;
}

}  // namespace vkformer::conformance
