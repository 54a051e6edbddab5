#include "vkformer/ops/attention.hpp"

#include <fmt/format.h>

#include "vkformer/error.hpp"

namespace vkformer {

namespace {
struct Push {
  uint32_t rows, heads, d_model, q_offset, q_stride, kv_offset, kv_stride, capacity, step_index, trace_offset,
      sentence_offset, rows_per_sentence, length_offset, source_capacity, out_offset, out_stride;
  float scale;
  uint32_t scores_offset;
};
}  // namespace

void record_attention(Sequence& sequence, Context& context, const AttentionArgs& a, std::string_view label) {
  if (a.head_dim * a.heads != a.d_model) {
    throw Error(fmt::format("{}: {} heads of {} do not make d_model {}", label, a.heads, a.head_dim, a.d_model));
  }
  if (!a.state || (!a.cross && !a.cache)) throw Error(fmt::format("{}: attention needs its state (and cache) buffers", label));
  const bool scores = a.scores.buffer != nullptr;
  if (scores && !a.cross) throw Error(fmt::format("{}: scores are written by cross attention only", label));
  // Cross attention reads no cache: bind the keys there (unused) rather than a dummy buffer.
  const Buffer* cache = a.cross ? a.kv.buffer : a.cache;
  const bool vec4 = a.head_dim % 4 == 0 && a.d_model % 4 == 0 && a.q.offset % 4 == 0 && a.q_stride % 4 == 0 &&
                    a.kv.offset % 4 == 0 && a.kv_stride % 4 == 0 && a.out.offset % 4 == 0 && a.out_stride % 4 == 0 &&
                    a.q.buffer->vec4_view() && a.kv.buffer->vec4_view() && cache->vec4_view();
  // GPUs: a workgroup per (row, head) if its shared memory fits (q, and three words per invocation).
  const uint32_t split = context.tuning().attention_wg;
  const bool per_workgroup = split > 0 && (a.head_dim + 3ull * split) * 4 <= context.info().shared_memory_bytes &&
                             a.rows <= context.info().max_workgroup_count[1];
  const uint32_t wg = per_workgroup ? split : context.tuning().reduce_wg;
  constexpr uint32_t kVec4Bindings = (1u << 1) | (1u << 3) | (1u << 5);  // q4, kv4, cache4 in attention.comp
  std::vector<uint32_t> specialization{wg, a.cross, a.head_dim};
  if (!per_workgroup) specialization.push_back(vec4);
  specialization.push_back(scores);
  const Kernel& kernel = context.kernel({.shader = per_workgroup ? "attention_wg" : "attention", .bindings = 10,
                                         .texel_bindings = kVec4Bindings, .push_constant_bytes = sizeof(Push),
                                         .specialization = specialization});
  const Push push{a.rows, a.heads, a.d_model, a.q.offset, a.q_stride, a.kv.offset, a.kv_stride, a.capacity,
                  a.step_index, a.trace_offset, a.sentence_offset, a.rows_per_sentence, a.length_offset,
                  a.source_capacity, a.out.offset, a.out_stride, a.scale, a.scores.offset};
  // Without scores, binding 9 takes the output buffer (never written there) rather than a dummy.
  const Buffer* scores_buffer = scores ? a.scores.buffer : a.out.buffer;
  sequence.dispatch(kernel,
                    {a.q.buffer, a.q.buffer, a.kv.buffer, a.kv.buffer, cache, cache, a.state, a.out.buffer, a.out.buffer,
                     scores_buffer},
                    push, per_workgroup ? std::array<uint32_t, 3>{a.heads, a.rows, 1} : groups_for(uint64_t(a.rows) * a.heads, wg),
                    label);
}

}  // namespace vkformer
