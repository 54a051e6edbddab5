#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "cases.hpp"
#include "check.hpp"
#include "vkformer/ops/argmax.hpp"

namespace vkformer::conformance {

// The value is copied, never computed, and ids are compared exactly: no error is allowed.
static constexpr Tolerance kTolerance{.max_rel = 0, .nmse = 0};

namespace {
struct Shape {
  uint32_t rows, cols;
  bool ties = false;           // values on a coarse grid: many equal maxima
  uint32_t banned = kNoBannedToken;
  bool values = true;
  bool non_finite = false;  // NaN, +Inf and -Inf in some rows, one of them in the banned column
};

}  // namespace

static Result run_argmax(Context& context, const Shape& s) {
  const size_t count = size_t(s.rows) * s.cols;
  auto x = random_values(count, 41 + s.cols + s.rows, 8.0f);
  if (s.ties) {
    for (auto& v : x) v = std::round(v);
  }
  // The banned column holds the row maximum in every other row, so it really has to be skipped.
  if (s.banned < s.cols) {
    for (uint32_t r = 0; r < s.rows; r += 2) x[size_t(r) * s.cols + s.banned] = 100.0f;
  }
  if (s.non_finite) poison_rows(x, s.rows, s.cols, s.banned);
  std::vector<uint32_t> expected_ids(s.rows, kNoBannedToken);
  std::vector<double> expected_values(s.rows, -double(std::numeric_limits<float>::max()));
  for (uint32_t r = 0; r < s.rows; ++r) {
    for (uint32_t k = 0; k < s.cols; ++k) {
      const double v = x[size_t(r) * s.cols + k];
      if (!std::isfinite(v)) {
        expected_ids[r] = kNonFiniteRow;
        expected_values[r] = -double(std::numeric_limits<float>::max());
        break;
      }
      if (k != s.banned && (expected_ids[r] == kNoBannedToken || v > expected_values[r])) {
        expected_ids[r] = k;
        expected_values[r] = v;
      }
    }
  }
  Buffer x_buffer = guarded_buffer(context, x, "x");
  Buffer ids = guarded_output(context, s.rows, "ids");
  Buffer values = guarded_output(context, s.rows, "values");
  Sequence sequence(context, "conformance argmax", true);
  run_once(context, sequence, [&](Sequence& seq) {
    if (s.values) {
      record_argmax(seq, context, {&x_buffer, kGuard}, s.rows, s.cols, &ids, kGuard, {&values, kGuard}, s.banned);
    } else {
      record_argmax(seq, context, {&x_buffer, kGuard}, s.rows, s.cols, &ids, kGuard, s.banned);
    }
  });
  Comparison comparison = compare_ids_guarded(ids, expected_ids);
  const size_t wrong_ids = size_t(comparison.max_rel);
  if (s.values) merge(comparison, compare_guarded(values, expected_values));
  std::string op = "argmax";
  if (s.ties) op += "+ties";
  if (s.banned != kNoBannedToken) op += fmt::format("+ban{}", s.banned);
  if (s.non_finite) op += "+naninf";
  auto result = finish(op, fmt::format("{}x{}", s.rows, s.cols), comparison, kTolerance, sequence);
  if (wrong_ids) result.note += fmt::format("{} wrong ids; ", wrong_ids);
  return result;
}

std::vector<Case> argmax_cases() {
  std::vector<Shape> shapes;
  for (uint32_t cols : {1u, 7u, 1000u, 32000u}) {
    shapes.push_back({.rows = 5, .cols = cols});
    shapes.push_back({.rows = 6, .cols = cols, .ties = true, .values = false});
    shapes.push_back({.rows = 6, .cols = cols, .banned = cols / 3});
    shapes.push_back({.rows = 6, .cols = cols, .ties = true, .banned = cols - 1});
    shapes.push_back({.rows = 6, .cols = cols, .banned = cols - 1, .non_finite = true});
  }
  shapes.push_back({.rows = 65600, .cols = 3, .ties = true});  // more rows than workgroups along x
  std::vector<Case> cases;
  for (const auto& shape : shapes) {
    cases.push_back({"argmax", fmt::format("{}", shape.cols), [=](Context& context) { return run_argmax(context, shape); }});
  }
  return cases;
}

}  // namespace vkformer::conformance
