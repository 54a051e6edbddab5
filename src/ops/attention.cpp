#include "vkformer/ops/attention.hpp"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>

#include "vkformer/error.hpp"

namespace vkformer {

namespace {
struct Push {
  uint32_t rows, heads, d_model, q_offset, q_stride, kv_offset, kv_stride, capacity, step_index, trace_offset,
      sentence_offset, rows_per_sentence, length_offset, source_capacity, out_offset, out_stride;
  float scale;
  uint32_t scores_offset, weight_offset, bias_offset;
};
}  // namespace

uint32_t attention_lanes(const Context& context, uint32_t head_dim, uint32_t wg) {
  // A (row, head)'s lanes stay in one workgroup, and each takes whole vec4s of head_dim.
  const uint32_t texels = head_dim % 4 == 0 ? head_dim / 4 : 1;
  return shuffle_lanes(context.info(), wg, context.tuning().attention_lanes, std::gcd(wg, texels));
}

bool attention_projects(View weight, View bias) {
  const Element element = weight.buffer->element();
  return (element == Element::f32 || element == Element::f16) && weight.buffer->vec4_view() && bias.buffer &&
         bias.buffer->vec4_view();
}

void record_attention(Sequence& sequence, Context& context, const AttentionArgs& a, std::string_view label) {
  if (a.head_dim * a.heads != a.d_model) {
    throw Error(fmt::format("{}: {} heads of {} do not make d_model {}", label, a.heads, a.head_dim, a.d_model));
  }
  if (!a.state || (!a.cross && !a.cache)) throw Error(fmt::format("{}: attention needs its state (and cache) buffers", label));
  const bool scores = a.scores.buffer != nullptr;
  if (scores && !a.cross) throw Error(fmt::format("{}: scores are written by cross attention only", label));
  const bool project = a.weight.buffer != nullptr;
  if (project && !attention_projects(a.weight, a.bias)) {
    throw Error(fmt::format("{}: the projection '{}' ({}) cannot be fused into attention", label,
                            a.weight.buffer->name(), element_name(a.weight.buffer->element())));
  }
  // Cross attention reads no cache: bind the keys there (unused) rather than a dummy buffer; a projecting
  // self attention reads no kv: bind the cache there.
  const Buffer* cache = a.cross ? a.kv.buffer : a.cache;
  const Buffer* kv = a.cross || !project ? a.kv.buffer : a.cache;
  const bool kv_aligned = (project && !a.cross) || (a.kv.offset % 4 == 0 && a.kv_stride % 4 == 0);
  const bool vec4 = a.head_dim % 4 == 0 && a.d_model % 4 == 0 && a.q.offset % 4 == 0 && a.q_stride % 4 == 0 &&
                    kv_aligned && a.out.offset % 4 == 0 && a.out_stride % 4 == 0 && (!project || a.weight.offset % 4 == 0) &&
                    a.q.buffer->vec4_view() && kv->vec4_view() && cache->vec4_view();
  // GPUs: a workgroup per (row, head) if its shared memory fits (attention_wg.comp): q, three words per
  // invocation and, projecting, TEAM + 1 partial sums per invocation and in self mode k and v (else one word each).
  const uint32_t split = context.tuning().attention_wg;
  const uint64_t shared_words = a.head_dim + 3ull * split + (project ? split * (std::min(split, 8u) + 1ull) : 1) +
                                (project && !a.cross ? 2ull * a.head_dim : 2);
  const bool per_workgroup = split > 0 && shared_words * 4 <= context.info().shared_memory_bytes &&
                             a.rows <= context.info().max_workgroup_count[1];
  const uint32_t wg = per_workgroup ? split : context.tuning().reduce_wg;
  // Lanes split the projection, which dominates a projecting kernel; without one, each lane's share of a key
  // is a few loads against a whole online-softmax update, and batch 32 ran slower so.
  const uint32_t lanes = per_workgroup || !project ? 1 : attention_lanes(context, a.head_dim, wg);
  // An f16 projection whose rows start at multiples of 8 elements: attention.comp reads it 8 elements to a
  // fetch (PACKED).
  const bool packed = project && !per_workgroup && vec4 && a.weight.buffer->element() == Element::f16 &&
                      a.weight.offset % 8 == 0 && a.d_model % 8 == 0 && a.weight.buffer->uint_view();
  // q4, kv4, cache4 (attention.comp), weight4, bias4 and weight8 (attention_wg.comp reads no weight8).
  constexpr uint32_t kTexelBindings = (1u << 1) | (1u << 3) | (1u << 5) | (1u << 10) | (1u << 11) | (1u << 12);
  std::vector<uint32_t> specialization{wg, a.cross, a.head_dim};
  if (!per_workgroup) specialization.push_back(vec4);
  specialization.push_back(scores);
  if (project || lanes > 1) specialization.push_back(project);
  if (per_workgroup && project) specialization.push_back(vec4);  // attention_wg's VEC4 only applies to the projection
  if (lanes > 1 || packed) specialization.push_back(lanes);       // LANE_COUNT, constant 6 of attention_lanes
  if (packed) specialization.push_back(1);                          // PACKED, constant 7 of attention.comp
  const std::string_view shader = per_workgroup ? "attention_wg" : lanes > 1 ? "attention_lanes" : "attention";
  const Kernel& kernel = context.kernel({.shader = std::string(shader), .bindings = 13,
                                         .texel_bindings = kTexelBindings, .uint_texel_bindings = 1u << 12,
                                         .push_constant_bytes = sizeof(Push), .specialization = specialization});
  const Push push{a.rows, a.heads, a.d_model, a.q.offset, a.q_stride, a.kv.offset, a.kv_stride, a.capacity,
                  a.step_index, a.trace_offset, a.sentence_offset, a.rows_per_sentence, a.length_offset,
                  a.source_capacity, a.out.offset, a.out_stride, a.scale, a.scores.offset, a.weight.offset,
                  a.bias.offset};
  // Without scores, binding 9 takes the output buffer (never written there) rather than a dummy; without a
  // projection, bindings 10 to 12 take q's (never read).
  const Buffer* scores_buffer = scores ? a.scores.buffer : a.out.buffer;
  const Buffer* weight = project ? a.weight.buffer : a.q.buffer;
  const Buffer* bias = project ? a.bias.buffer : a.q.buffer;
  sequence.dispatch(kernel,
                    {a.q.buffer, a.q.buffer, kv, kv, cache, cache, a.state, a.out.buffer, a.out.buffer,
                     scores_buffer, weight, bias, weight},
                    push,
                    per_workgroup ? std::array<uint32_t, 3>{a.heads, a.rows, 1}
                                  : groups_for(uint64_t(a.rows) * a.heads * lanes, wg),
                    label);
}

}  // namespace vkformer
