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

std::string_view layer_norm_shader(const DeviceInfo& device, LayerNormSums sums) {
  if (sums == LayerNormSums::automatic) sums = device.subgroup_arithmetic ? LayerNormSums::subgroup : LayerNormSums::shared_memory;
  return sums == LayerNormSums::subgroup ? "layer_norm" : "layer_norm_nosubgroup";
}

void record_layer_norm(Sequence& sequence, Context& context, View x, View residual, View gamma, View beta, View out,
                       uint32_t rows, uint32_t cols, float eps, std::string_view label, LayerNormSums sums) {
  if (rows == 0 || cols == 0) throw Error(fmt::format("{}: empty shape {}x{}", label, rows, cols));
  const uint32_t wg = context.tuning().reduce_wg;
  // x stands in for an absent residual (the binding is never read then).
  const Buffer* residual_buffer = residual.buffer ? residual.buffer : x.buffer;
  bool vec4 = cols % 4 == 0;
  for (const View& view : {x, residual, gamma, beta, out}) vec4 = vec4 && view.offset % 4 == 0;
  for (const Buffer* buffer : {x.buffer, residual_buffer, gamma.buffer, beta.buffer}) vec4 = vec4 && buffer->vec4_view();
  constexpr uint32_t kVec4Bindings = 0b1'1110'0000;  // x4, residual4, gamma4, beta4 in layer_norm.comp
  const Kernel& kernel = context.kernel({.shader = std::string(layer_norm_shader(context.info(), sums)), .bindings = 10,
                                         .texel_bindings = kVec4Bindings, .push_constant_bytes = sizeof(Push),
                                         .specialization = {wg, vec4}});
  const Push push{rows,       cols,       x.offset, residual.offset, gamma.offset, beta.offset,
                  out.offset, residual.buffer ? 1u : 0u, eps};
  sequence.dispatch(kernel,
                    {x.buffer, residual_buffer, gamma.buffer, beta.buffer, out.buffer, x.buffer, residual_buffer,
                     gamma.buffer, beta.buffer, out.buffer},
                    push, groups_for(rows, 1), label);
}

}  // namespace vkformer
