#pragma once
#include "vkformer/context.hpp"
#include "vkformer/ops/common.hpp"
#include "vkformer/sequence.hpp"

namespace vkformer {

// Optional masks of attention scores. Keys at or past key_lengths[batch] (uint32, offset in elements)
// are masked; with `causal`, key k of query q is masked when k > q + causal_offset.
struct SoftmaxMask {
  const Buffer* key_lengths = nullptr;  // nullptr: no length mask
  uint32_t key_lengths_offset = 0;
  bool causal = false;
  int32_t causal_offset = 0;
};

// out = softmax(scale * x + mask) along each row of `cols` elements; rows are laid out
// [batch, heads, q_len, cols] (row r: batch r / (heads * q_len), query r % q_len). A fully masked row
// gives zeros. `out` may alias `x`.
void record_softmax(Sequence& sequence, Context& context, View x, View out, uint32_t rows, uint32_t cols,
                    uint32_t heads, uint32_t q_len, float scale, const SoftmaxMask& mask = {},
                    std::string_view label = "softmax");

}  // namespace vkformer
