#pragma once
#include <string_view>

#include "vkformer/context.hpp"
#include "vkformer/ops/common.hpp"
#include "vkformer/sequence.hpp"

namespace vkformer {

// The encoder's self-attention tiled over query blocks (shaders/encoder_attention.comp), for GPUs: each
// workgroup attends `queries` positions of one sentence and head, staging the sentence's keys and values
// in shared memory. Rows are [sentences, positions]; the q, k and v of a row are d_model apart in `qkv`
// (row stride qkv_stride); sentence s attends to its first state[length_offset + s] positions.
struct EncoderAttentionArgs {
  uint32_t sentences = 1, positions = 1, heads = 1, head_dim = 1, d_model = 1;
  View qkv;
  uint32_t qkv_stride = 0;
  const Buffer* state = nullptr;
  uint32_t length_offset = 0;
  View out;
  uint32_t out_stride = 0;
  float scale = 1.0f;
  uint32_t queries = 0;  // per workgroup; 0: the tuning's encoder_queries
};

// Keys per shared-memory chunk for this head size on this device (at most 32; fewer where they do not fit
// in half the shared memory); 0 when not even 4 fit: use record_attention.
uint32_t encoder_attention_keys(const Context& context, uint32_t head_dim);

void record_encoder_attention(Sequence& sequence, Context& context, const EncoderAttentionArgs& args,
                              std::string_view label = "self attention");

}  // namespace vkformer
