#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "cases.hpp"
#include "check.hpp"
#include "vkformer/ops/softmax.hpp"

namespace vkformer::conformance {

// Outputs are <= 1, so max_rel is an absolute error: fp32 rounding of scale*x (|scale*x| <= ~40 where the
// scale is not a power of two) shifts an exponent by <= 40 * 6e-8, plus a few ulp from exp and the sum.
static constexpr Tolerance kTolerance{.max_rel = 1e-5, .nmse = 1e-10};

namespace {
struct Shape {
  uint32_t batch, heads, q_len, cols;
  float scale = 1.0f;
  float magnitude = 4.0f;     // inputs uniform in [-magnitude, magnitude]
  bool lengths = false;       // per-batch key lengths 0, 1, partial, full, ...
  bool causal = false;
  int32_t causal_offset = 0;
  bool in_place = false;
};
}  // namespace

// Masks written per element from the definition (the shader uses the prefix shape of the masks instead).
static std::vector<double> softmax_reference(const std::vector<float>& x, const Shape& s,
                                             const std::vector<uint32_t>& lengths) {
  const uint32_t rows = s.batch * s.heads * s.q_len;
  std::vector<double> out(size_t(rows) * s.cols, 0.0);
  for (uint32_t r = 0; r < rows; ++r) {
    const uint32_t b = r / (s.heads * s.q_len), q = r % s.q_len;
    auto masked = [&](uint32_t k) {
      return (s.lengths && k >= lengths[b]) || (s.causal && int64_t(k) > int64_t(q) + s.causal_offset);
    };
    double max_value = -INFINITY;
    for (uint32_t k = 0; k < s.cols; ++k) {
      if (!masked(k)) max_value = std::max(max_value, double(s.scale) * x[size_t(r) * s.cols + k]);
    }
    if (max_value == -INFINITY) continue;  // fully masked: zeros
    double sum = 0;
    for (uint32_t k = 0; k < s.cols; ++k) {
      if (!masked(k)) sum += std::exp(double(s.scale) * x[size_t(r) * s.cols + k] - max_value);
    }
    for (uint32_t k = 0; k < s.cols; ++k) {
      if (!masked(k)) out[size_t(r) * s.cols + k] = std::exp(double(s.scale) * x[size_t(r) * s.cols + k] - max_value) / sum;
    }
  }
  return out;
}

static Result run_softmax(Context& context, const Shape& s) {
  const uint32_t rows = s.batch * s.heads * s.q_len;
  const size_t count = size_t(rows) * s.cols;
  const auto x = random_values(count, 11 + s.cols + rows, s.magnitude);
  // Lengths cycle through 0, 1, partial and full (and past the end, which must act as full).
  std::vector<uint32_t> lengths(s.batch + 3, 0);
  const uint32_t pattern[] = {0u, 1u, s.cols / 2 + 1, s.cols, s.cols + 5};
  for (uint32_t b = 0; b < s.batch; ++b) lengths[3 + b] = pattern[b % 5];
  const std::vector<uint32_t> batch_lengths(lengths.begin() + 3, lengths.end());
  const auto expected = softmax_reference(x, s, batch_lengths);

  Buffer x_buffer = guarded_buffer(context, x, "x");
  Buffer out = guarded_output(context, count, "out");
  Buffer lengths_buffer(context, lengths.size() * sizeof(uint32_t), "key lengths");
  lengths_buffer.upload(std::span<const uint32_t>(lengths));
  Buffer& result = s.in_place ? x_buffer : out;
  Sequence sequence(context, "conformance softmax", true);
  // In place, a second (warm-up) run would apply softmax twice: record and submit exactly once.
  sequence.begin();
  {
    SoftmaxMask mask{.key_lengths = s.lengths ? &lengths_buffer : nullptr, .key_lengths_offset = 3,
                     .causal = s.causal, .causal_offset = s.causal_offset};
    record_softmax(sequence, context, {&x_buffer, kGuard}, {&result, kGuard}, rows, s.cols, s.heads, s.q_len, s.scale,
                   mask);
  }
  sequence.end();
  context.submit_and_wait({sequence.command_buffer()});
  std::string op = "softmax";
  if (s.lengths) op += "+len";
  if (s.causal) op += fmt::format("+causal{:+d}", s.causal_offset);
  if (s.in_place) op += " inplace";
  return finish(op, fmt::format("{}x{}x{}x{} x{:g}*{:g}", s.batch, s.heads, s.q_len, s.cols, s.magnitude, s.scale),
                compare_guarded(result, expected), kTolerance, sequence);
}

std::vector<Case> softmax_cases() {
  std::vector<Shape> shapes;
  for (uint32_t cols : {1u, 7u, 64u, 129u, 8192u}) {
    const uint32_t q_len = cols == 8192 ? 2 : 3;
    shapes.push_back({.batch = 2, .heads = 2, .q_len = q_len, .cols = cols, .scale = 0.35f});
    shapes.push_back({.batch = 5, .heads = 2, .q_len = q_len, .cols = cols, .scale = 0.35f, .lengths = true});
    // Encoder-decoder step (offset k_len - q_len, keys of earlier steps visible) and plain causal.
    shapes.push_back({.batch = 2, .heads = 2, .q_len = q_len, .cols = cols, .causal = true,
                      .causal_offset = int32_t(cols) - int32_t(q_len)});
    shapes.push_back({.batch = 5, .heads = 1, .q_len = q_len, .cols = cols, .lengths = true, .causal = true});
    // Large magnitudes: ±1e4 with an exact scale, ±100 with an inexact one.
    shapes.push_back({.batch = 1, .heads = 2, .q_len = q_len, .cols = cols, .scale = 0.125f, .magnitude = 1e4f});
    shapes.push_back({.batch = 1, .heads = 2, .q_len = q_len, .cols = cols, .scale = 0.4f, .magnitude = 100.0f});
    shapes.push_back({.batch = 4, .heads = 1, .q_len = q_len, .cols = cols, .scale = 0.4f, .lengths = true,
                      .in_place = true});
    shapes.push_back({.batch = 1, .heads = 2, .q_len = q_len, .cols = cols, .scale = 0.4f, .in_place = true});
  }
  shapes.push_back({.batch = 3, .heads = 16, .q_len = 1, .cols = 129, .scale = 0.125f, .lengths = true});
  shapes.push_back({.batch = 2, .heads = 16, .q_len = 9, .cols = 33, .scale = 0.125f, .lengths = true,
                    .causal = true, .causal_offset = -2});
  std::vector<Case> cases;
  for (const auto& shape : shapes) {
    cases.push_back({"softmax", fmt::format("{}", shape.cols), [=](Context& context) { return run_softmax(context, shape); }});
  }
  return cases;
}

}  // namespace vkformer::conformance
