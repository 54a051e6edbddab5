#include "vkformer/ops/topk.hpp"

#include <fmt/format.h>

#include "vkformer/error.hpp"

namespace vkformer {

namespace {
struct Push {
  uint32_t rows, cols, k, x_offset, ids_offset, values_offset, log_softmax, banned, banned_in_sum;
};
}  // namespace

void record_topk(Sequence& sequence, Context& context, View x, uint32_t rows, uint32_t cols, uint32_t k,
                 const Buffer* ids, uint32_t ids_offset, View values, bool log_softmax, uint32_t banned,
                 std::string_view label, bool banned_in_sum) {
  if (rows == 0 || cols == 0 || k == 0 || k > kMaxTopK || k > cols) {
    throw Error(fmt::format("{}: top-{} of {} columns (k must be 1..min({}, columns))", label, k, cols, kMaxTopK));
  }
  const uint32_t wg = context.tuning().reduce_wg;
  // Any alignment (the shader masks the texels at the rows' ends), as long as the view holds the texel of
  // the last element.
  const uint64_t last_texel_end = (uint64_t(x.offset) + uint64_t(rows) * cols + 3) / 4 * 4;
  const bool vec4 = last_texel_end <= x.buffer->vec4_view_elements();
  const Kernel& kernel = context.kernel({.shader = "topk", .bindings = 4, .texel_bindings = 1u << 3,
                                         .push_constant_bytes = sizeof(Push), .specialization = {wg, vec4}});
  const Push push{rows, cols, k, x.offset, ids_offset, values.offset, log_softmax ? 1u : 0u, banned,
                  banned_in_sum ? 1u : 0u};
  sequence.dispatch(kernel, {x.buffer, ids, values.buffer, x.buffer}, push, groups_for(rows, 1), label);
}

}  // namespace vkformer
