#include "vkformer/ops/logits_edit.hpp"

#include <fmt/format.h>

#include "vkformer/error.hpp"

namespace vkformer {

namespace {
struct Push {
  uint32_t rows, cols, x_offset, out_offset, edits_offset, stride, log_softmax;
};
}  // namespace

void record_logits_edit(Sequence& sequence, Context& context, View x, View out, uint32_t rows, uint32_t cols,
                        const Buffer* edits, uint32_t edits_offset, uint32_t stride, bool log_softmax,
                        std::string_view label) {
  if (rows == 0 || cols == 0 || stride == 0) {
    throw Error(fmt::format("{}: empty shape {}x{} or edit stride {}", label, rows, cols, stride));
  }
  const uint32_t wg = context.tuning().reduce_wg;
  const Kernel& kernel = context.kernel({.shader = "logits_edit", .bindings = 3, .push_constant_bytes = sizeof(Push),
                                         .specialization = {wg}});
  const Push push{rows, cols, x.offset, out.offset, edits_offset, stride, log_softmax ? 1u : 0u};
  sequence.dispatch(kernel, {x.buffer, out.buffer, edits}, push, groups_for(rows, 1), label);
}

}  // namespace vkformer
