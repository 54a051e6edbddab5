#pragma once
#include "vkformer/context.hpp"
#include "vkformer/ops/common.hpp"
#include "vkformer/sequence.hpp"

namespace vkformer {

// out = act(a + b); pass b.buffer == nullptr for out = act(a). `out` may alias `a` or `b`.
void record_elementwise(Sequence& sequence, Context& context, View a, View b, View out, uint32_t count,
                        Activation activation, std::string_view label = "elementwise");

}  // namespace vkformer
