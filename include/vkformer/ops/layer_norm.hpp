#pragma once
#include "vkformer/context.hpp"
#include "vkformer/ops/common.hpp"
#include "vkformer/sequence.hpp"

namespace vkformer {

// out = LayerNorm(x + residual) * gamma + beta over rows of `cols` elements (biased variance, as torch).
// residual.buffer == nullptr: out = LayerNorm(x) * gamma + beta. `out` may alias `x` or `residual`.
void record_layer_norm(Sequence& sequence, Context& context, View x, View residual, View gamma, View beta, View out,
                       uint32_t rows, uint32_t cols, float eps, std::string_view label = "layer_norm");

}  // namespace vkformer
