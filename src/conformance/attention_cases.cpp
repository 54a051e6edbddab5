#include <cmath>

#include <fmt/format.h>

#include "cases.hpp"
#include "check.hpp"
#include "vkformer/half.hpp"
#include "vkformer/ops/attention.hpp"

namespace vkformer::conformance {

// A softmax-weighted mean of values in [-1, 1] after an fp32 dot product of head_dim <= 128 terms.
static constexpr Tolerance kTolerance{.max_rel = 1e-5, .nmse = 1e-10};

namespace {
struct Shape {
  bool cross;
  uint32_t rows, heads, head_dim;
  uint32_t step = 0, capacity = 0;                      // self
  uint32_t beam = 1, source_capacity = 0;               // cross
  std::vector<uint32_t> lengths;                        // cross: per sentence
  bool by_row = false;  // cross: sentence = row / beam without the table (the encoder's self attention)
  bool scores = false;  // cross: also write each key's score (alignments)
  // The query (self: query, key and value) projected by the kernel from x rows with a weight stored as
  // `weight` (f32 or f16), whose first element is `weight_lead` elements into its buffer (1: no vec4 loads).
  bool project = false;
  Element weight = Element::f32;
  uint32_t weight_lead = 0;
};

Result run(Context& context, const Shape& s) {
  const uint32_t d = s.heads * s.head_dim;
  const float scale = 1.0f / std::sqrt(float(s.head_dim));
  const uint32_t sentences = s.rows / s.beam;
  // qkv rows as the decoder's fused projection writes them: q, k, v side by side.
  const auto qkv = random_values(size_t(s.rows) * 3 * d, 101 + s.rows, 2.0f);
  const auto encoder_kv = random_values(size_t(std::max(sentences * s.source_capacity, 1u)) * 2 * d, 102);
  const auto cache_init = random_values(size_t(std::max(s.rows * s.capacity, 1u)) * 2 * d, 103);
  // Projecting: x rows, and a weight [projected, d] (leading filler elements) scaled like a trained one's,
  // so q, k and v are about 0.7 in magnitude, and its bias.
  const uint32_t projected = s.cross ? d : 3 * d;
  const auto x = random_values(size_t(s.rows) * d, 104);
  auto weight = random_values(size_t(s.weight_lead) + size_t(projected) * d, 105, 2.0f / std::sqrt(float(d)));
  const auto bias = random_values(projected, 106, 0.5f);
  if (s.weight == Element::f16) {
    for (float& w : weight) w = half_to_float(float_to_half(w));  // the reference takes the stored values
  }
  // The reference's q, k and v per row, [rows, 3 * d]: qkv's, or projected in fp64.
  std::vector<double> qkv_reference(qkv.begin(), qkv.end());
  if (s.project) {
    for (uint32_t r = 0; r < s.rows; ++r) {
      for (uint32_t n = 0; n < projected; ++n) {
        double sum = bias[n];
        for (uint32_t k = 0; k < d; ++k) sum += double(x[size_t(r) * d + k]) * weight[s.weight_lead + size_t(n) * d + k];
        qkv_reference[size_t(r) * 3 * d + n] = sum;
      }
    }
  }
  const std::vector<double> encoder_reference(encoder_kv.begin(), encoder_kv.end());
  const std::vector<double> cache_reference(cache_init.begin(), cache_init.end());
  std::vector<uint32_t> state{s.step};
  const uint32_t trace_offset = 1;
  std::mt19937 generator(7);
  for (uint32_t i = 0; i < s.rows * s.capacity; ++i) state.push_back(generator() % s.rows);
  const uint32_t sentence_offset = uint32_t(state.size());
  for (uint32_t r = 0; r < s.rows; ++r) state.push_back(r / s.beam);
  const uint32_t length_offset = uint32_t(state.size());
  state.insert(state.end(), s.lengths.begin(), s.lengths.end());

  std::vector<double> expected(size_t(s.rows) * d);
  // Keys past a sentence's length keep the sentinel: the shader writes no score there.
  std::vector<double> expected_scores(s.scores ? size_t(s.rows) * s.heads * s.source_capacity : 0, kSentinel);
  // Self: the cache with the step's keys and values in their slots.
  std::vector<double> expected_cache = cache_reference;
  for (uint32_t r = 0; r < s.rows; ++r) {
    for (uint32_t h = 0; h < s.heads; ++h) {
      std::vector<std::pair<const double*, const double*>> keys;  // (k, v) pointers
      if (s.cross) {
        const uint32_t sentence = r / s.beam;
        for (uint32_t t = 0; t < s.lengths[sentence]; ++t) {
          const double* k = &encoder_reference[(size_t(sentence) * s.source_capacity + t) * 2 * d + h * s.head_dim];
          keys.emplace_back(k, k + d);
        }
      } else {
        for (uint32_t t = 0; t < s.step; ++t) {
          const uint32_t slot = state[trace_offset + r * s.capacity + t];
          const double* k = &cache_reference[(size_t(slot) * s.capacity + t) * 2 * d + h * s.head_dim];
          keys.emplace_back(k, k + d);
        }
        const double* k = &qkv_reference[size_t(r) * 3 * d + d + h * s.head_dim];
        keys.emplace_back(k, k + d);
        const size_t slot = (size_t(r) * s.capacity + s.step) * 2 * d + h * s.head_dim;
        std::copy(k, k + s.head_dim, &expected_cache[slot]);
        std::copy(k + d, k + d + s.head_dim, &expected_cache[slot + d]);
      }
      const double* q = &qkv_reference[size_t(r) * 3 * d + h * s.head_dim];
      std::vector<double> scores;
      double top = -1e300;
      for (auto [k, v] : keys) {
        double dot = 0;
        for (uint32_t i = 0; i < s.head_dim; ++i) dot += q[i] * k[i];
        scores.push_back(dot * scale);
        top = std::max(top, scores.back());
        if (s.scores) expected_scores[(size_t(r) * s.heads + h) * s.source_capacity + scores.size() - 1] = scores.back();
      }
      double total = 0;
      for (double& score : scores) total += (score = std::exp(score - top));
      for (uint32_t i = 0; i < s.head_dim; ++i) {
        double sum = 0;
        for (size_t t = 0; t < keys.size(); ++t) sum += scores[t] * keys[t].second[i];
        expected[size_t(r) * d + h * s.head_dim + i] = keys.empty() ? 0.0 : sum / total;
      }
    }
  }

  Buffer qkv_buffer = guarded_buffer(context, qkv, "qkv");
  Buffer x_buffer = guarded_buffer(context, x, "x");
  Buffer weight_buffer = s.weight == Element::f16 ? guarded_f16_buffer(context, weight, "weight")
                                                  : guarded_buffer(context, weight, "weight");
  Buffer bias_buffer = guarded_buffer(context, bias, "bias");
  Buffer encoder_buffer = guarded_buffer(context, encoder_kv, "encoder kv");
  // The shader addresses the cache from element 0, so it has no guard: all of it is checked below.
  Buffer cache(context, cache_init.size() * sizeof(float), "cache");
  cache.upload(std::span<const float>(cache_init));
  Buffer state_buffer(context, state.size() * 4, "state", true);
  state_buffer.upload(std::span<const uint32_t>(state));
  Buffer out = guarded_output(context, expected.size(), "out");
  Buffer scores_out = guarded_output(context, expected_scores.size(), "scores");
  // Projecting self attention reads no kv: none is given.
  AttentionArgs args{.cross = s.cross, .rows = s.rows, .heads = s.heads, .head_dim = s.head_dim, .d_model = d,
                     .q = s.project ? View{&x_buffer, kGuard} : View{&qkv_buffer, kGuard},
                     .q_stride = s.project ? d : 3 * d,
                     .kv = s.cross     ? View{&encoder_buffer, kGuard}
                           : s.project ? View{}
                                       : View{&qkv_buffer, kGuard + d},
                     .kv_stride = s.cross ? 2 * d : 3 * d, .cache = &cache, .capacity = s.capacity,
                     .state = &state_buffer, .step_index = 0, .trace_offset = trace_offset,
                     .sentence_offset = s.by_row ? 0 : sentence_offset, .length_offset = length_offset,
                     .source_capacity = s.source_capacity, .rows_per_sentence = s.by_row ? s.beam : 0,
                     .out = {&out, kGuard}, .out_stride = d, .scale = scale,
                     .scores = s.scores ? View{&scores_out, kGuard} : View{},
                     .weight = s.project ? View{&weight_buffer, kGuard + s.weight_lead} : View{},
                     .bias = s.project ? View{&bias_buffer, kGuard} : View{}};
  Sequence sequence(context, "conformance attention", true);
  run_once(context, sequence, [&](Sequence& seq) { record_attention(seq, context, args); });
  const std::string projection =
      s.project ? fmt::format(" projected {}{}", element_name(s.weight),
                                  s.weight_lead % 4 ? " unaligned" : s.weight_lead ? fmt::format(" at {}", s.weight_lead) : "")
                : "";
  const std::string name = (s.cross ? fmt::format("cross r{} h{} d{} {}{} S{}", s.rows, s.heads, s.head_dim,
                                                  s.by_row ? "rows/sentence " : "beam", s.beam, s.source_capacity) +
                                          (s.scores ? " scores" : "")
                                    : fmt::format("self r{} h{} d{} step{}", s.rows, s.heads, s.head_dim, s.step)) +
                           projection;
  Comparison comparison = compare_guarded(out, expected);
  if (!s.cross) {
    // The step's slots against the reference; every other cache element must be as it was.
    const auto all = cache.download<float>(expected_cache.size());
    std::vector<float> written;
    std::vector<double> reference;
    Comparison unwritten;
    for (uint32_t r = 0; r < s.rows; ++r) {
      const size_t slot = (size_t(r) * s.capacity + s.step) * 2 * d;
      written.insert(written.end(), all.begin() + long(slot), all.begin() + long(slot + 2 * d));
      reference.insert(reference.end(), expected_cache.begin() + long(slot), expected_cache.begin() + long(slot + 2 * d));
    }
    for (size_t i = 0; i < all.size(); ++i) {
      const bool in_slot = (i / (2 * d)) % s.capacity == s.step;
      unwritten.sentinel_damage += !in_slot && double(all[i]) != expected_cache[i];
    }
    merge(comparison, compare(written, reference));
    merge(comparison, unwritten);
  }
  if (s.scores) {
    // The written scores against the reference; every unwritten slot and guard must keep the sentinel.
    const auto all = scores_out.download<float>(expected_scores.size() + 2 * kGuard);
    std::vector<float> written;
    std::vector<double> reference;
    Comparison unwritten;
    for (size_t i = 0; i < all.size(); ++i) {
      const bool body = i >= kGuard && i < kGuard + expected_scores.size();
      if (body && expected_scores[i - kGuard] != double(kSentinel)) {
        written.push_back(all[i]);
        reference.push_back(expected_scores[i - kGuard]);
      } else {
        unwritten.sentinel_damage += all[i] != kSentinel;
      }
    }
    merge(comparison, compare(written, reference));
    merge(comparison, unwritten);
  }
  return finish(s.cross ? "attention cross" : "attention self", name, comparison, kTolerance, sequence);
}
}  // namespace

std::vector<Case> attention_cases() {
  std::vector<Shape> shapes{
      {.cross = false, .rows = 1, .heads = 1, .head_dim = 4, .step = 0, .capacity = 1},
      {.cross = false, .rows = 3, .heads = 2, .head_dim = 12, .step = 5, .capacity = 9},
      {.cross = false, .rows = 7, .heads = 4, .head_dim = 8, .step = 16, .capacity = 17},
      {.cross = false, .rows = 5, .heads = 3, .head_dim = 7, .step = 3, .capacity = 6},  // scalar path
      {.cross = false, .rows = 16, .heads = 8, .head_dim = 64, .step = 40, .capacity = 64},
      // More keys than a GPU workgroup has invocations, and more head elements (two per invocation).
      {.cross = false, .rows = 3, .heads = 2, .head_dim = 96, .step = 150, .capacity = 160},
      {.cross = true, .rows = 1, .heads = 1, .head_dim = 4, .beam = 1, .source_capacity = 1, .lengths = {1}},
      {.cross = true, .rows = 4, .heads = 2, .head_dim = 12, .beam = 1, .source_capacity = 13, .lengths = {0, 1, 7, 13}},
      {.cross = true, .rows = 8, .heads = 4, .head_dim = 8, .beam = 4, .source_capacity = 29, .lengths = {29, 3}},
      {.cross = true, .rows = 6, .heads = 3, .head_dim = 5, .beam = 2, .source_capacity = 11, .lengths = {11, 2, 5}},
      {.cross = true, .rows = 12, .heads = 8, .head_dim = 64, .beam = 3, .source_capacity = 300, .lengths = {300, 1, 257, 64}},
      {.cross = true, .rows = 15, .heads = 2, .head_dim = 8, .beam = 5, .source_capacity = 5, .lengths = {5, 0, 2},
       .by_row = true},
      {.cross = true, .rows = 64, .heads = 4, .head_dim = 64, .beam = 16, .source_capacity = 16,
       .lengths = {16, 1, 9, 0}, .by_row = true},
      {.cross = true, .rows = 14, .heads = 3, .head_dim = 5, .beam = 7, .source_capacity = 7, .lengths = {7, 3},
       .by_row = true},
      {.cross = true, .rows = 4, .heads = 2, .head_dim = 132, .beam = 2, .source_capacity = 70, .lengths = {70, 65}},
  };
  // The decoder's attention with its query (self: query, key and value) projection, from f32 and f16
  // weights: head_dim 4 to 132, d_model 15 and 21 (element loads), rows 1 to 33, more keys and head
  // elements than a GPU workgroup has invocations, a weight starting off a texel, and one starting 4
  // elements in (vec4 loads, but no 8-element ones of an f16 weight).
  const std::vector<Shape> projected{
      {.cross = false, .rows = 1, .heads = 1, .head_dim = 4, .step = 0, .capacity = 1},
      {.cross = false, .rows = 3, .heads = 2, .head_dim = 12, .step = 5, .capacity = 9},
      {.cross = false, .rows = 7, .heads = 4, .head_dim = 8, .step = 16, .capacity = 17},
      {.cross = false, .rows = 5, .heads = 3, .head_dim = 7, .step = 3, .capacity = 6},
      {.cross = false, .rows = 2, .heads = 3, .head_dim = 5, .step = 1, .capacity = 2},
      {.cross = false, .rows = 33, .heads = 8, .head_dim = 64, .step = 40, .capacity = 41},
      {.cross = false, .rows = 3, .heads = 2, .head_dim = 96, .step = 150, .capacity = 160},
      {.cross = false, .rows = 6, .heads = 4, .head_dim = 8, .step = 9, .capacity = 12, .weight_lead = 1},
      {.cross = false, .rows = 2, .heads = 2, .head_dim = 8, .step = 3, .capacity = 4, .weight_lead = 4},
      {.cross = true, .rows = 1, .heads = 1, .head_dim = 4, .beam = 1, .source_capacity = 1, .lengths = {1}},
      {.cross = true, .rows = 4, .heads = 2, .head_dim = 12, .beam = 1, .source_capacity = 13, .lengths = {0, 1, 7, 13}},
      {.cross = true, .rows = 8, .heads = 4, .head_dim = 8, .beam = 4, .source_capacity = 29, .lengths = {29, 3}},
      {.cross = true, .rows = 6, .heads = 3, .head_dim = 5, .beam = 2, .source_capacity = 11, .lengths = {11, 2, 5}},
      {.cross = true, .rows = 33, .heads = 8, .head_dim = 64, .beam = 11, .source_capacity = 70, .lengths = {70, 1, 66}},
      {.cross = true, .rows = 4, .heads = 2, .head_dim = 132, .beam = 2, .source_capacity = 70, .lengths = {70, 65}},
      {.cross = true, .rows = 9, .heads = 3, .head_dim = 12, .beam = 3, .source_capacity = 10, .lengths = {10, 4, 0},
       .weight_lead = 1},
      {.cross = true, .rows = 3, .heads = 2, .head_dim = 12, .beam = 1, .source_capacity = 9, .lengths = {9, 3, 1},
       .weight_lead = 4},
  };
  for (const auto& shape : projected) {
    for (const Element weight : {Element::f32, Element::f16}) {
      shapes.push_back(shape);
      shapes.back().project = true;
      shapes.back().weight = weight;
    }
  }
  // Cross attention of the decoder's alignment layer also writes the scores.
  for (size_t i = 0, n = shapes.size(); i < n; ++i) {
    if (shapes[i].cross && !shapes[i].by_row) {
      shapes.push_back(shapes[i]);
      shapes.back().scores = true;
    }
  }
  std::vector<Case> cases;
  for (const auto& s : shapes) {
    cases.push_back({"attention", std::string(s.cross ? "cross" : "self") + (s.project ? " projected" : ""),
                     [s](Context& context) { return run(context, s); }});
  }
  return cases;
}

}  // namespace vkformer::conformance
