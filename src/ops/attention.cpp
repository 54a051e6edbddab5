#include "vkformer/ops/attention.hpp"

#include <fmt/format.h>

#include "vkformer/error.hpp"

namespace vkformer {

namespace {
struct Push {
  uint32_t rows, heads, d_model, q_offset, q_stride, kv_offset, kv_stride, capacity, step_index, trace_offset,
      sentence_offset, length_offset, source_capacity, out_offset, out_stride;
  float scale;
};
}  // namespace

void record_attention(Sequence& sequence, Context& context, const AttentionArgs& a, std::string_view label) {
  if (a.head_dim * a.heads != a.d_model) {
    throw Error(fmt::format("{}: {} heads of {} do not make d_model {}", label, a.heads, a.head_dim, a.d_model));
  }
  if (!a.state || (!a.cross && !a.cache)) throw Error(fmt::format("{}: attention needs its state (and cache) buffers", label));
  bool vec4 = a.head_dim % 4 == 0 && a.d_model % 4 == 0;
  if (a.cross) vec4 = vec4 && a.kv.offset % 4 == 0 && a.kv_stride % 4 == 0;
  const uint32_t wg = context.tuning().reduce_wg;
  const Kernel& kernel = context.kernel({.shader = "attention", .bindings = 7, .push_constant_bytes = sizeof(Push),
                                         .specialization = {wg, a.cross, a.head_dim, vec4}});
  const Push push{a.rows, a.heads, a.d_model, a.q.offset, a.q_stride, a.kv.offset, a.kv_stride, a.capacity,
                  a.step_index, a.trace_offset, a.sentence_offset, a.length_offset, a.source_capacity, a.out.offset,
                  a.out_stride, a.scale};
  // Cross attention reads no cache: bind the output there (unused) rather than a dummy buffer.
  const Buffer* cache = a.cross ? a.out.buffer : a.cache;
  sequence.dispatch(kernel, {a.q.buffer, a.kv.buffer, cache, cache, a.kv.buffer, a.state, a.out.buffer}, push,
                    groups_for(uint64_t(a.rows) * a.heads, wg), label);
}

}  // namespace vkformer
