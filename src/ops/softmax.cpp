#include "vkformer/ops/softmax.hpp"

#include <fmt/format.h>

#include "vkformer/error.hpp"

namespace vkformer {

namespace {
struct Push {
  uint32_t rows, cols, heads, q_len, x_offset, out_offset, lengths_offset, use_lengths, causal;
  int32_t causal_offset;
  float scale;
};
}  // namespace

void record_softmax(Sequence& sequence, Context& context, View x, View out, uint32_t rows, uint32_t cols,
                    uint32_t heads, uint32_t q_len, float scale, const SoftmaxMask& mask, std::string_view label) {
  if (rows == 0 || cols == 0 || heads == 0 || q_len == 0 || rows % (heads * q_len) != 0) {
    throw Error(fmt::format("{}: {} rows of {} do not split into heads {} x queries {}", label, rows, cols, heads,
                            q_len));
  }
  const uint32_t wg = context.tuning().reduce_wg;
  const Kernel& kernel = context.kernel({.shader = "softmax", .bindings = 3, .push_constant_bytes = sizeof(Push),
                                         .specialization = {wg}});
  const Push push{rows,
                  cols,
                  heads,
                  q_len,
                  x.offset,
                  out.offset,
                  mask.key_lengths_offset,
                  mask.key_lengths ? 1u : 0u,
                  mask.causal ? 1u : 0u,
                  mask.causal_offset,
                  scale};
  // An unused binding still needs a buffer: x stands in for absent key lengths.
  sequence.dispatch(kernel, {x.buffer, out.buffer, mask.key_lengths ? mask.key_lengths : x.buffer}, push,
                    groups_for(rows, 1), label);
}

}  // namespace vkformer
