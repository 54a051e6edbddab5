#pragma once
#include "vkformer/context.hpp"
#include "vkformer/ops/common.hpp"
#include "vkformer/sequence.hpp"

namespace vkformer {

// How a workgroup sums a row: subgroup arithmetic, or shared memory alone (a separate SPIR-V module
// without the subgroup capability, for devices that lack subgroup arithmetic in compute shaders).
// automatic: subgroups where the device has them.
enum class LayerNormSums { automatic, subgroup, shared_memory };

// The shader `sums` runs on `device`: "layer_norm" or "layer_norm_nosubgroup".
std::string_view layer_norm_shader(const DeviceInfo& device, LayerNormSums sums = LayerNormSums::automatic);

// out = LayerNorm(x + residual) * gamma + beta over rows of `cols` elements (biased variance, as torch).
// residual.buffer == nullptr: out = LayerNorm(x) * gamma + beta. `out` may alias `x` or `residual`.
void record_layer_norm(Sequence& sequence, Context& context, View x, View residual, View gamma, View beta, View out,
                       uint32_t rows, uint32_t cols, float eps, std::string_view label = "layer_norm",
                       LayerNormSums sums = LayerNormSums::automatic);

}  // namespace vkformer
