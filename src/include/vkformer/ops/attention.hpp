#pragma once
#include <string_view>

#include "vkformer/context.hpp"
#include "vkformer/ops/common.hpp"
#include "vkformer/sequence.hpp"

namespace vkformer {

// Fused attention, one invocation per (query row, head) (shaders/attention.comp). Self mode (a decoder
// step) appends this step's k, v to `cache` and attends to keys 0..step found through the trace table;
// cross mode attends to the keys of the row's sentence up to its length: the decoder's cross attention
// (row -> sentence table) or, with rows_per_sentence, the encoder's self attention. Index tables live in
// the uint32 `state` buffer (see the shader).
// With a projection `weight`, the kernel computes each head's query from the layer input rows x itself
// (in self mode also the step's key and value, stored in the cache), so no matmul runs before it.
struct AttentionArgs {
  bool cross = false;
  uint32_t rows = 1, heads = 1, head_dim = 1, d_model = 1;
  View q;  // with a projection: x [rows, d_model], which `out` must not overlap
  uint32_t q_stride = 0;
  View kv;  // self: this step's k then v (d_model apart), unused with a projection; cross: encoder k then v
  uint32_t kv_stride = 0;
  const Buffer* cache = nullptr;  // self: [rows, capacity, 2 * d_model]
  uint32_t capacity = 0;
  const Buffer* state = nullptr;
  uint32_t step_index = 0, trace_offset = 0, sentence_offset = 0, length_offset = 0, source_capacity = 0;
  uint32_t rows_per_sentence = 0;  // cross: not 0 -> sentence = row / rows_per_sentence (no table)
  View out;
  uint32_t out_stride = 0;
  float scale = 1.0f;
  // Cross only, optional: each key's scaled score q.k, [rows, heads, source_capacity] (keys past a
  // sentence's length left unwritten), for attention weights read by the host.
  View scores;
  // Optional: the query projection, an nn.Linear weight [N, d_model] (N = d_model; self: 3 * d_model, the
  // q, k and v rows) and its bias [N]; see attention_projects.
  View weight, bias;
};

// Invocations per (row, head) that attention.comp takes when it projects (its attention_lanes build where
// more than 1): the tuning's attention_lanes as shuffle_lanes() fits them to the device, workgroups of `wg`
// and whole vec4s of head_dim each.
uint32_t attention_lanes(const Context& context, uint32_t head_dim, uint32_t wg);

// Whether record_attention can take this projection: an f32 or f16 weight and a bias, both with vec4 texel
// views (the kernels read them only through those). Not bf16, i8 or i16 weights.
bool attention_projects(View weight, View bias);

void record_attention(Sequence& sequence, Context& context, const AttentionArgs& args,
                      std::string_view label = "attention");

}  // namespace vkformer
