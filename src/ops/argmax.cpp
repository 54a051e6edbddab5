#include "vkformer/ops/argmax.hpp"

#include <fmt/format.h>

#include "vkformer/error.hpp"

namespace vkformer {

namespace {
struct Push {
  uint32_t rows, cols, x_offset, ids_offset, values_offset, write_values, banned;
};
}  // namespace

void record_argmax(Sequence& sequence, Context& context, View x, uint32_t rows, uint32_t cols, const Buffer* ids,
                   uint32_t ids_offset, View values, uint32_t banned, std::string_view label) {
  if (rows == 0 || cols == 0) throw Error(fmt::format("{}: empty shape {}x{}", label, rows, cols));
  const uint32_t wg = context.tuning().reduce_wg;
  const bool vec4 = cols % 4 == 0 && x.offset % 4 == 0 && x.buffer->vec4_view();
  const Kernel& kernel = context.kernel({.shader = "argmax", .bindings = 4, .texel_bindings = 1u << 3,
                                         .push_constant_bytes = sizeof(Push), .specialization = {wg, vec4}});
  const Push push{rows, cols, x.offset, ids_offset, values.offset, values.buffer ? 1u : 0u, banned};
  // ids stand in for absent values (never written then).
  sequence.dispatch(kernel, {x.buffer, ids, values.buffer ? values.buffer : ids, x.buffer}, push, groups_for(rows, 1),
                    label);
}

void record_argmax(Sequence& sequence, Context& context, View x, uint32_t rows, uint32_t cols, const Buffer* ids,
                   uint32_t ids_offset, uint32_t banned, std::string_view label) {
  record_argmax(sequence, context, x, rows, cols, ids, ids_offset, View{}, banned, label);
}

}  // namespace vkformer
