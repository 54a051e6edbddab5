#include "vkformer/ops/layer_norm.hpp"

#include <fmt/format.h>

#include "vkformer/error.hpp"

namespace vkformer {

namespace {
struct Push {
  uint32_t rows, cols, x_offset, residual_offset, gamma_offset, beta_offset, out_offset, use_residual;
  float eps;
};
}  // namespace

void record_layer_norm(Sequence& sequence, Context& context, View x, View residual, View gamma, View beta, View out,
                       uint32_t rows, uint32_t cols, float eps, std::string_view label) {
  if (rows == 0 || cols == 0) throw Error(fmt::format("{}: empty shape {}x{}", label, rows, cols));
  const uint32_t wg = context.tuning().reduce_wg;
  const Kernel& kernel = context.kernel({.shader = "layer_norm", .bindings = 5, .push_constant_bytes = sizeof(Push),
                                         .specialization = {wg}});
  const Push push{rows,       cols,       x.offset, residual.offset, gamma.offset, beta.offset,
                  out.offset, residual.buffer ? 1u : 0u, eps};
  // x stands in for an absent residual (the binding is never read then).
  sequence.dispatch(kernel, {x.buffer, residual.buffer ? residual.buffer : x.buffer, gamma.buffer, beta.buffer, out.buffer},
                    push, groups_for(rows, 1), label);
}

}  // namespace vkformer
