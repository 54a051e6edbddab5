#include <cmath>

#include <fmt/format.h>

#include "cases.hpp"
#include "check.hpp"
#include "vkformer/ops/layer_norm.hpp"

namespace vkformer::conformance {

// Normalized values are O(1): a few fp32 roundings in the sums, the rsqrt and the affine step.
static constexpr Tolerance kTolerance{.max_rel = 2e-6, .nmse = 1e-12};
// x + residual at |v| ~ 1e3 rounds by up to 3e-5 in fp32 before normalizing: ~4e-5 of these rows' std (0.8), times gamma.
static constexpr Tolerance kOffsetResidualTolerance{.max_rel = 2e-4, .nmse = 1e-9};

namespace {
struct Shape {
  uint32_t rows, cols;
  bool residual = false;
  float offset = 0.0f;  // added to x: rows of 1e3 ± 1 test the stability of mean and variance
  bool in_place = false;
  LayerNormSums sums = LayerNormSums::automatic;
};
}  // namespace

static Result run_layer_norm(Context& context, const Shape& s) {
  const size_t count = size_t(s.rows) * s.cols;
  auto x = random_values(count, 21 + s.cols, 1.0f);
  for (auto& v : x) v += s.offset;
  const auto residual = random_values(count, 22 + s.cols, 1.0f);
  auto gamma = random_values(s.cols, 23 + s.cols, 0.5f);
  for (auto& g : gamma) g += 1.0f;
  const auto beta = random_values(s.cols, 24 + s.cols, 0.5f);
  const double eps = 1e-5;

  std::vector<double> expected(count);
  for (uint32_t r = 0; r < s.rows; ++r) {
    std::vector<double> v(s.cols);
    double mean = 0;
    for (uint32_t k = 0; k < s.cols; ++k) {
      v[k] = double(x[size_t(r) * s.cols + k]) + (s.residual ? double(residual[size_t(r) * s.cols + k]) : 0.0);
      mean += v[k];
    }
    mean /= s.cols;
    double variance = 0;
    for (double value : v) variance += (value - mean) * (value - mean);
    variance /= s.cols;
    for (uint32_t k = 0; k < s.cols; ++k) {
      expected[size_t(r) * s.cols + k] = (v[k] - mean) / std::sqrt(variance + eps) * gamma[k] + beta[k];
    }
  }

  Buffer x_buffer = guarded_buffer(context, x, "x");
  Buffer residual_buffer = guarded_buffer(context, residual, "residual");
  Buffer gamma_buffer = guarded_buffer(context, gamma, "gamma");
  Buffer beta_buffer = guarded_buffer(context, beta, "beta");
  Buffer out = guarded_output(context, count, "out");
  Buffer& result = s.in_place ? x_buffer : out;
  // In place, a second (warm-up) run would normalize twice: record and submit exactly once.
  Sequence sequence(context, "conformance layer_norm", true);
  sequence.begin();
  record_layer_norm(sequence, context, {&x_buffer, kGuard}, s.residual ? View{&residual_buffer, kGuard} : View{},
                    {&gamma_buffer, kGuard}, {&beta_buffer, kGuard}, {&result, kGuard}, s.rows, s.cols, float(eps),
                    "layer_norm", s.sums);
  sequence.end();
  context.submit_and_wait({sequence.command_buffer()});
  std::string op(layer_norm_shader(context.info(), s.sums));  // the variant that ran
  if (s.residual) op += "+res";
  if (s.in_place) op += " inplace";
  const bool rounded_sum = s.residual && s.offset != 0.0f;
  return finish(op, fmt::format("{}x{} {:+g}", s.rows, s.cols, s.offset), compare_guarded(result, expected),
                rounded_sum ? kOffsetResidualTolerance : kTolerance, sequence);
}

std::vector<Case> layer_norm_cases() {
  std::vector<Shape> shapes;
  for (uint32_t cols : {1u, 7u, 32u, 512u, 1023u, 4096u}) {
    for (bool residual : {false, true}) {
      shapes.push_back({.rows = 5, .cols = cols, .residual = residual});
      shapes.push_back({.rows = 3, .cols = cols, .residual = residual, .offset = 1e3f});
    }
    shapes.push_back({.rows = 4, .cols = cols, .residual = true, .in_place = true});
  }
  shapes.push_back({.rows = 70, .cols = 512, .residual = true, .offset = -250.0f});
  // The variant for devices without subgroup arithmetic (automatic takes subgroups on lavapipe).
  for (uint32_t cols : {1u, 7u, 512u, 1023u}) {
    shapes.push_back({.rows = 5, .cols = cols, .residual = true, .sums = LayerNormSums::shared_memory});
    shapes.push_back({.rows = 3, .cols = cols, .offset = 1e3f, .sums = LayerNormSums::shared_memory});
  }
  shapes.push_back({.rows = 4, .cols = 4096, .residual = true, .in_place = true, .sums = LayerNormSums::shared_memory});
  std::vector<Case> cases;
  for (const auto& shape : shapes) {
    cases.push_back(
        {"layer_norm", fmt::format("{}", shape.cols), [=](Context& context) { return run_layer_norm(context, shape); }});
  }
  return cases;
}

}  // namespace vkformer::conformance
