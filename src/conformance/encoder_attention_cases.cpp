#include <cmath>

#include <fmt/format.h>

#include "cases.hpp"
#include "check.hpp"
#include "vkformer/ops/encoder_attention.hpp"

namespace vkformer::conformance {

// As attention's cases: softmax-weighted means of values in [-1, 1] after fp32 dot products.
static constexpr Tolerance kTolerance{.max_rel = 1e-5, .nmse = 1e-10};

namespace {
struct Shape {
  uint32_t positions, heads, head_dim;
  std::vector<uint32_t> lengths;  // per sentence, at most positions
  uint32_t queries = 64;          // per workgroup
};

Result run(Context& context, const Shape& s) {
  const uint32_t d = s.heads * s.head_dim, sentences = uint32_t(s.lengths.size()), rows = sentences * s.positions;
  const float scale = 1.0f / std::sqrt(float(s.head_dim));
  // qkv rows as the encoder's fused projection writes them (q, k, v side by side), after a lead of 4
  // elements (offsets are honoured), the output rows at a wider stride than d_model.
  const uint32_t lead = 4, out_stride = d + 3;
  const auto qkv = random_values(lead + size_t(rows) * 3 * d, 301 + rows, 2.0f);
  std::vector<uint32_t> state{11, 12};  // what precedes the lengths in the decoding state
  const uint32_t length_offset = uint32_t(state.size());
  state.insert(state.end(), s.lengths.begin(), s.lengths.end());

  // Every row is written, positions past the length too (attending to the sentence's first `length`
  // keys); the elements between rows keep their zeros (not sentinels, which would swamp the nmse).
  std::vector<double> expected(size_t(rows) * out_stride, 0.0);
  for (uint32_t sentence = 0; sentence < sentences; ++sentence) {
    const uint32_t length = s.lengths[sentence];
    for (uint32_t position = 0; position < s.positions; ++position) {
      const size_t row = size_t(sentence) * s.positions + position;
      for (uint32_t h = 0; h < s.heads; ++h) {
        const float* q = &qkv[lead + row * 3 * d + h * s.head_dim];
        std::vector<double> weights(length);
        double top = -1e300, total = 0;
        for (uint32_t t = 0; t < length; ++t) {
          const float* k = &qkv[lead + (size_t(sentence) * s.positions + t) * 3 * d + d + h * s.head_dim];
          double dot = 0;
          for (uint32_t i = 0; i < s.head_dim; ++i) dot += double(q[i]) * k[i];
          top = std::max(top, weights[t] = dot * scale);
        }
        for (double& w : weights) total += (w = std::exp(w - top));
        for (uint32_t i = 0; i < s.head_dim; ++i) {
          double sum = 0;
          for (uint32_t t = 0; t < length; ++t) {
            sum += weights[t] * qkv[lead + (size_t(sentence) * s.positions + t) * 3 * d + 2 * d + h * s.head_dim + i];
          }
          expected[row * out_stride + h * s.head_dim + i] = length ? sum / total : 0.0;
        }
      }
    }
  }

  Buffer qkv_buffer = guarded_buffer(context, qkv, "qkv");
  Buffer state_buffer(context, state.size() * 4, "state", true);
  state_buffer.upload(std::span<const uint32_t>(state));
  Buffer out = guarded_buffer(context, std::vector<float>(expected.size(), 0.0f), "out");
  const EncoderAttentionArgs args{.sentences = sentences, .positions = s.positions, .heads = s.heads,
                                  .head_dim = s.head_dim, .d_model = d, .qkv = {&qkv_buffer, kGuard + lead},
                                  .qkv_stride = 3 * d, .state = &state_buffer, .length_offset = length_offset,
                                  .out = {&out, kGuard}, .out_stride = out_stride, .scale = scale,
                                  .queries = s.queries};
  Sequence sequence(context, "conformance encoder_attention", true);
  run_once(context, sequence, [&](Sequence& seq) { record_encoder_attention(seq, context, args); });
  std::string lengths;
  for (uint32_t length : s.lengths) lengths += fmt::format("{}{}", lengths.empty() ? "" : ",", length);
  return finish(fmt::format("encoder_attention q{} k{}", s.queries, encoder_attention_keys(context, s.head_dim)),
                fmt::format("S{} h{} d{} lengths {}", s.positions, s.heads, s.head_dim, lengths),
                compare_guarded(out, expected), kTolerance, sequence);
}
}  // namespace

// Partial query blocks and key chunks, a sentence shorter than its rows, an empty one (zeros), one key,
// odd head sizes, heads of 128 (smaller key chunks), and workgroups of 32 and 64 queries.
std::vector<Case> encoder_attention_cases() {
  const std::vector<Shape> shapes{
      {.positions = 1, .heads = 1, .head_dim = 4, .lengths = {1}},
      {.positions = 7, .heads = 2, .head_dim = 12, .lengths = {7, 3, 0}},
      {.positions = 33, .heads = 3, .head_dim = 5, .lengths = {33, 1}},
      {.positions = 70, .heads = 4, .head_dim = 64, .lengths = {70, 65, 2}},
      {.positions = 70, .heads = 4, .head_dim = 64, .lengths = {69, 40}, .queries = 32},
      {.positions = 130, .heads = 2, .head_dim = 128, .lengths = {130, 97}},
      {.positions = 20, .heads = 8, .head_dim = 8, .lengths = {20, 20, 19, 1}, .queries = 32},
  };
  std::vector<Case> cases;
  for (const auto& s : shapes) {
    cases.push_back({"encoder_attention", fmt::format("S{}", s.positions), [s](Context& context) { return run(context, s); }});
  }
  return cases;
}

}  // namespace vkformer::conformance
