#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include <fmt/format.h>

#include "cases.hpp"
#include "check.hpp"
#include "vkformer/ops/topk.hpp"

namespace vkformer::conformance {

// Selection is exact (ids compared exactly). Plain values are copies; log-softmax values carry the fp32
// logsumexp (|lse| ~ 20 for 32000 columns: a few ulp, ~2e-6 absolute, i.e. <= 1e-6 of |value|).
static constexpr Tolerance kTolerance{.max_rel = 1e-6, .nmse = 1e-12};

namespace {
struct Shape {
  uint32_t rows, cols, k;
  bool log_softmax = false;
  bool ties = false;  // values on a coarse grid
  uint32_t banned = kNoBannedToken;
  bool banned_in_sum = true;  // false: the banned column counts as -inf in the logsumexp
  bool non_finite = false;  // NaN, +Inf and -Inf in some rows, one of them in the banned column
};

}  // namespace

static Result run_topk(Context& context, const Shape& s) {
  const size_t count = size_t(s.rows) * s.cols;
  auto x = random_values(count, 51 + s.cols + s.k, 10.0f);
  if (s.ties) {
    for (auto& v : x) v = std::round(v * 0.5f);
  }
  if (s.banned < s.cols) {  // the banned column holds the row maximum in every other row
    for (uint32_t r = 0; r < s.rows; r += 2) x[size_t(r) * s.cols + s.banned] = 30.0f;
  }
  if (s.non_finite) poison_rows(x, s.rows, s.cols, s.banned);
  std::vector<uint32_t> expected_ids(size_t(s.rows) * s.k, kNoBannedToken);
  std::vector<double> expected_values(size_t(s.rows) * s.k, -double(std::numeric_limits<float>::max()));
  for (uint32_t r = 0; r < s.rows; ++r) {
    const float* row = x.data() + size_t(r) * s.cols;
    if (!std::all_of(row, row + s.cols, [](float v) { return std::isfinite(v); })) {
      std::fill_n(expected_ids.begin() + long(r) * s.k, s.k, kNonFiniteRow);
      continue;  // values stay -FLT_MAX
    }
    double max_value = -INFINITY, sum = 0;
    const auto summed = [&](uint32_t c) { return c != s.banned || s.banned_in_sum; };
    for (uint32_t c = 0; c < s.cols; ++c) {
      if (summed(c)) max_value = std::max(max_value, double(row[c]));
    }
    for (uint32_t c = 0; c < s.cols; ++c) {
      if (summed(c)) sum += std::exp(double(row[c]) - max_value);
    }
    const double lse = s.log_softmax ? max_value + std::log(sum) : 0.0;
    std::vector<uint32_t> order;
    for (uint32_t c = 0; c < s.cols; ++c) {
      if (c != s.banned) order.push_back(c);
    }
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return row[a] > row[b]; });
    for (uint32_t i = 0; i < s.k && i < order.size(); ++i) {
      expected_ids[size_t(r) * s.k + i] = order[i];
      expected_values[size_t(r) * s.k + i] = double(row[order[i]]) - lse;
    }
  }
  Buffer x_buffer = guarded_buffer(context, x, "x");
  Buffer ids = guarded_output(context, expected_ids.size(), "ids");
  Buffer values = guarded_output(context, expected_values.size(), "values");
  Sequence sequence(context, "conformance topk", true);
  run_once(context, sequence, [&](Sequence& seq) {
    record_topk(seq, context, {&x_buffer, kGuard}, s.rows, s.cols, s.k, &ids, kGuard, {&values, kGuard},
                s.log_softmax, s.banned, "topk", s.banned_in_sum);
  });
  Comparison comparison = compare_ids_guarded(ids, expected_ids);
  const size_t wrong_ids = size_t(comparison.max_rel);
  merge(comparison, compare_guarded(values, expected_values));
  std::string op = fmt::format("top{}", s.k);
  if (s.log_softmax) op += "+logsm";
  if (s.ties) op += "+ties";
  if (s.banned != kNoBannedToken) op += fmt::format("+ban{}{}", s.banned, s.banned_in_sum ? "" : "out");
  if (s.non_finite) op += "+naninf";
  auto result = finish(op, fmt::format("{}x{}", s.rows, s.cols), comparison, kTolerance, sequence);
  if (wrong_ids) result.note += fmt::format("{} wrong ids; ", wrong_ids);
  return result;
}

std::vector<Case> topk_cases() {
  std::vector<Shape> shapes;
  // 58,101: an opus-mt vocabulary, whose rows start inside vec4 texels.
  for (uint32_t cols : {1u, 7u, 100u, 1000u, 32000u, 58101u}) {
    for (uint32_t k : {1u, 4u, 8u, 16u}) {
      if (k > cols) continue;
      shapes.push_back({.rows = 5, .cols = cols, .k = k, .log_softmax = true});
      shapes.push_back({.rows = 4, .cols = cols, .k = k, .ties = true});
      shapes.push_back({.rows = 6, .cols = cols, .k = k, .log_softmax = true, .ties = true, .banned = cols / 2});
      shapes.push_back({.rows = 6, .cols = cols, .k = k, .log_softmax = true, .banned = cols / 2, .non_finite = true});
      shapes.push_back({.rows = 6, .cols = cols, .k = k, .log_softmax = true, .banned = cols / 2, .banned_in_sum = false});
    }
  }
  shapes.push_back({.rows = 3, .cols = 1, .k = 1, .log_softmax = true, .banned = 0});  // no candidate at all
  shapes.push_back({.rows = 3, .cols = 7, .k = 7, .banned = 2});  // one slot left empty
  std::vector<Case> cases;
  for (const auto& shape : shapes) {
    cases.push_back({"topk", fmt::format("{}", shape.cols), [=](Context& context) { return run_topk(context, shape); }});
  }
  return cases;
}

}  // namespace vkformer::conformance
