#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include <fmt/format.h>

#include "cases.hpp"
#include "check.hpp"
#include "vkformer/ops/logits_edit.hpp"

namespace vkformer::conformance {

// Plain edits are one f32 multiply or divide (Vulkan allows 2.5 ulp for division); log-softmax values carry
// the fp32 logsumexp (as top-k's: ~2e-6 absolute for 32000 columns), times the penalty when penalized.
// Bans must be exactly -FLT_MAX: checked apart, so that they do not swamp the nmse.
static constexpr Tolerance kTolerance{.max_rel = 3e-6, .nmse = 1e-12};

namespace {
struct Shape {
  uint32_t rows, cols;
  uint32_t most;  // edits per row at most; row r has (r * 37) % (most + 1) of them, the last row `most`
  bool log_softmax = false;
  float penalty = 1.3f;
};
}  // namespace

static Result run_logits_edit(Context& context, const Shape& s) {
  const size_t count = size_t(s.rows) * s.cols;
  auto x = random_values(count, 61 + s.cols + s.most, 10.0f);
  constexpr uint32_t kEditsOffset = 5;
  const uint32_t stride = 1 + s.most + 3;  // a stride wider than the entries need
  std::vector<uint32_t> edits(kEditsOffset + 1 + size_t(s.rows) * stride, 0xDEADBEEFu);
  edits[kEditsOffset] = std::bit_cast<uint32_t>(s.penalty);
  std::vector<double> expected(count);
  std::vector<bool> banned(count, false);
  std::mt19937 generator(s.cols * 7 + s.rows);
  for (uint32_t r = 0; r < s.rows; ++r) {
    float* row = x.data() + size_t(r) * s.cols;
    double lse = 0;
    if (s.log_softmax) {
      const double max_value = *std::max_element(row, row + s.cols);
      double sum = 0;
      for (uint32_t c = 0; c < s.cols; ++c) sum += std::exp(double(row[c]) - max_value);
      lse = max_value + std::log(sum);
    }
    for (uint32_t c = 0; c < s.cols; ++c) expected[size_t(r) * s.cols + c] = double(row[c]) - lse;
    // Distinct tokens in random order, every third a ban; a penalized raw zero stays zero.
    std::vector<uint32_t> tokens(s.cols);
    std::iota(tokens.begin(), tokens.end(), 0u);
    std::shuffle(tokens.begin(), tokens.end(), generator);
    const uint32_t n = r + 1 == s.rows ? s.most : (r * 37) % (s.most + 1);
    uint32_t* entries = edits.data() + kEditsOffset + 1 + size_t(r) * stride;
    entries[0] = n;
    for (uint32_t e = 0; e < n; ++e) {
      const uint32_t token = tokens[e];
      const size_t i = size_t(r) * s.cols + token;
      const bool ban = e % 3 == 2;
      entries[1 + e] = token | (ban ? kBanEdit : 0u);
      if (!s.log_softmax && e == 1) {
        x[i] = 0.0f;
        expected[i] = 0.0;
      }
      banned[i] = ban;
      const double v = expected[i];
      expected[i] = ban ? -double(std::numeric_limits<float>::max()) : v < 0 ? v * s.penalty : v / s.penalty;
    }
  }
  Buffer x_buffer = guarded_buffer(context, x, "x");
  Buffer out = guarded_output(context, count, "out");
  Buffer edits_buffer(context, edits.size() * sizeof(uint32_t), "edits");
  edits_buffer.upload(std::span<const uint32_t>(edits));
  Sequence sequence(context, "conformance logits edit", true);
  run_once(context, sequence, [&](Sequence& seq) {
    record_logits_edit(seq, context, {&x_buffer, kGuard}, {&out, kGuard}, s.rows, s.cols, &edits_buffer, kEditsOffset,
                       stride, s.log_softmax);
  });
  const auto all = out.download<float>(count + 2 * kGuard);
  std::vector<float> kept;
  std::vector<double> kept_expected;
  size_t wrong_bans = 0;
  for (size_t i = 0; i < count; ++i) {
    const float value = all[kGuard + i];
    if (banned[i]) {
      wrong_bans += value != -std::numeric_limits<float>::max();
    } else {
      kept.push_back(value);
      kept_expected.push_back(expected[i]);
    }
  }
  Comparison comparison = compare(kept, kept_expected);
  for (uint32_t i = 0; i < kGuard; ++i) {
    comparison.sentinel_damage += all[i] != kSentinel;
    comparison.sentinel_damage += all[kGuard + count + i] != kSentinel;
  }
  comparison.max_rel += double(wrong_bans);  // any wrong ban fails
  std::string op = s.log_softmax ? "logsm+edit" : "edit";
  auto result = finish(op, fmt::format("{}x{} edits<={} P={}", s.rows, s.cols, s.most, s.penalty), comparison,
                       kTolerance, sequence);
  if (wrong_bans) result.note += fmt::format("{} wrong bans; ", wrong_bans);
  return result;
}

std::vector<Case> logits_edit_cases() {
  std::vector<Shape> shapes;
  for (uint32_t cols : {1u, 7u, 100u, 1000u, 32001u}) {
    // No edits, a few, every column, and more than a workgroup's invocations.
    std::vector<uint32_t> counts{0u, std::min(cols, 3u), std::min(cols, 300u)};
    counts.erase(std::unique(counts.begin(), counts.end()), counts.end());
    for (uint32_t most : counts) {
      shapes.push_back({.rows = 5, .cols = cols, .most = most});
      shapes.push_back({.rows = 3, .cols = cols, .most = most, .log_softmax = true, .penalty = 0.7f});
    }
  }
  shapes.push_back({.rows = 2, .cols = 8000, .most = 255, .log_softmax = true});  // the shipped model's vocabulary
  std::vector<Case> cases;
  for (const auto& shape : shapes) {
    cases.push_back({"logits_edit", fmt::format("{}", shape.cols),
                     [=](Context& context) { return run_logits_edit(context, shape); }});
  }
  return cases;
}

}  // namespace vkformer::conformance
