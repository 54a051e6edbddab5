#include "vkformer/ops/elementwise.hpp"

namespace vkformer {

namespace {
struct Push {
  uint32_t count, a_offset, b_offset, out_offset, use_b, activation;
};
}  // namespace

void record_elementwise(Sequence& sequence, Context& context, View a, View b, View out, uint32_t count,
                        Activation activation, std::string_view label) {
  const uint32_t wg = context.tuning().reduce_wg;
  const Kernel& kernel = context.kernel({.shader = "elementwise", .bindings = 3, .push_constant_bytes = sizeof(Push),
                                         .specialization = {wg}});
  const Push push{count, a.offset, b.offset, out.offset, b.buffer ? 1u : 0u, uint32_t(activation)};
  sequence.dispatch(kernel, {a.buffer, b.buffer ? b.buffer : a.buffer, out.buffer}, push, groups_for(count, wg), label,
                    {.flops = double(count), .bytes = double(count) * (b.buffer ? 12 : 8)});
}

}  // namespace vkformer
