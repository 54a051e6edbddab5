#include "vkformer/ops/encoder_attention.hpp"

#include <fmt/format.h>

#include "vkformer/error.hpp"

namespace vkformer {

namespace {
struct Push {
  uint32_t positions, d_model, qkv_offset, qkv_stride, length_offset, out_offset, out_stride;
  float scale;
};
}  // namespace

uint32_t encoder_attention_keys(const Context& context, uint32_t head_dim) {
  // Half the shared memory at most: two workgroups can share a multiprocessor.
  const uint64_t budget = context.info().shared_memory_bytes / 2;
  uint32_t keys = 32;
  while (keys > 4 && 2ull * keys * head_dim * 4 > budget) keys /= 2;
  return 2ull * keys * head_dim * 4 <= budget ? keys : 0;
}

void record_encoder_attention(Sequence& sequence, Context& context, const EncoderAttentionArgs& a,
                              std::string_view label) {
  if (a.head_dim * a.heads != a.d_model) {
    throw Error(fmt::format("{}: {} heads of {} do not make d_model {}", label, a.heads, a.head_dim, a.d_model));
  }
  if (!a.state) throw Error(fmt::format("{}: encoder attention needs the state buffer", label));
  const uint32_t keys = encoder_attention_keys(context, a.head_dim);
  if (!keys) throw Error(fmt::format("{}: heads of {} do not fit in shared memory", label, a.head_dim));
  const uint32_t queries = a.queries ? a.queries : context.tuning().encoder_queries;
  if (!queries) throw Error(fmt::format("{}: tuning '{}' has no encoder query blocks", label, context.tuning().name));
  const Kernel& kernel = context.kernel({.shader = "encoder_attention", .bindings = 3,
                                         .push_constant_bytes = sizeof(Push),
                                         .specialization = {queries, a.head_dim, keys}});
  const Push push{a.positions, a.d_model, a.qkv.offset, a.qkv_stride, a.length_offset, a.out.offset, a.out_stride,
                  a.scale};
  // Every query against every position (an upper bound: sentences may be shorter); q and the output once,
  // the keys and values once per query block.
  const double rows = double(a.sentences) * a.positions, d = a.d_model;
  const double blocks = ceil_div(a.positions, queries);
  const DispatchCost cost{.flops = 4.0 * rows * a.positions * d,
                          .bytes = 4.0 * (2.0 * rows * d + 2.0 * a.sentences * blocks * a.positions * d)};
  sequence.dispatch(kernel, {a.qkv.buffer, a.state, a.out.buffer}, push,
                    {ceil_div(a.positions, queries), a.heads, a.sentences}, label, cost);
}

}  // namespace vkformer
