#version 450
#extension GL_EXT_samplerless_texture_functions : require
// Fused attention, one invocation per (query row, head): softmax(scale * q.k) v over the row's keys in
// one pass with a running max (online softmax), so a whole attention is a single dispatch.
//   self (CROSS = false): one query per sequence (a decoder step); keys are the row's own earlier steps
//     in the KV cache, found through the trace table (beam search reorders hypotheses by pointing at
//     other rows' slots instead of copying); the step's new key and value are also stored in the cache.
//   cross (CROSS = true): keys are the positions of the row's sentence, up to its source length: the
//     decoder's cross attention (sentence from a table), or the encoder's self attention (many query rows
//     per sentence: sentence = row / rows_per_sentence).
// Run-time values (step, trace, row -> sentence, source lengths) live in `state`, written by the host per
// step, so recorded command buffers replay unchanged. With VEC4, reads go through vec4 texel views
// (gathered as vectors on CPU drivers); the cache's view only ever reads slots of earlier dispatches.
// With SCORES (cross only), each key's scaled score q.k is also written to `scores`, [rows, heads,
// source_capacity]: the host turns them into attention weights for alignments and heat maps.
// With PROJECT, the q binding holds the layer input rows x and each invocation computes its head's query
// itself from the projection `weight` (an nn.Linear [N, d_model], f32 or f16, read only through its texel
// view) and `bias`, so the query matmul is not a dispatch of its own. Self: N = 3 * d_model (q, k, v rows),
// the step's key and value are computed too and written to the cache slot (kv is unbound), and the step's
// own key is attended first, from registers.
// Built twice (cmake/Shaders.cmake): attention, and attention_lanes with LANES defined, where LANE_COUNT
// invocations of one subgroup share each (row, head), each taking HEAD_DIM / LANE_COUNT of its dimensions
// (its slice of q, k, v, the projection's rows and the output) and adding up the q.k partial sums with
// subgroup shuffles: no barriers and no shared memory, for CPU drivers, where a (row, head) is one lane of
// a vector and a decoder step at batch 1 would otherwise leave all but a few lanes, and one thread, idle.
#extension GL_EXT_control_flow_attributes : enable
#ifdef LANES
#extension GL_KHR_shader_subgroup_shuffle : require
#endif
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const bool CROSS = false;
layout(constant_id = 2) const uint HEAD_DIM = 64;
layout(constant_id = 3) const bool VEC4 = true;  // HEAD_DIM, strides and offsets are multiples of 4
layout(constant_id = 4) const bool SCORES = false;
layout(constant_id = 5) const bool PROJECT = false;
// PROJECT with an f16 weight whose rows start at multiples of 8 elements: each fetch of weight8 takes 8 of
// a row's elements (CPU drivers pay per texel fetch, and RGBA16F holds 4).
layout(constant_id = 7) const bool PACKED = false;
#ifdef LANES
layout(constant_id = 6) const uint LANE_COUNT = 1;  // a power of two dividing HEAD_DIM / 4 and the subgroup
#else
const uint LANE_COUNT = 1;
#endif
const uint DIMS = HEAD_DIM / LANE_COUNT;  // this invocation's dimensions of its head
const uint V4 = VEC4 ? DIMS / 4 : 1;
const uint PADDED = DIMS / 4 + 1;  // vec4s that hold DIMS values, padded with zeros

layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(binding = 1) uniform textureBuffer q4;
layout(std430, binding = 2) readonly buffer KV { float kv[]; };  // self: this step's k, v; cross: keys, values
layout(binding = 3) uniform textureBuffer kv4;
layout(std430, binding = 4) buffer Cache { float cache[]; };     // self: [rows, capacity, 2 * d_model]
layout(binding = 5) uniform textureBuffer cache4;
layout(std430, binding = 6) readonly buffer State { uint state[]; };
layout(std430, binding = 7) writeonly buffer Out { float result[]; };
layout(std430, binding = 8) writeonly buffer Out4 { vec4 result4[]; };
layout(std430, binding = 9) writeonly buffer Scores { float scores[]; };
layout(binding = 10) uniform textureBuffer weight4;  // PROJECT: f32 or f16 elements, 4 to a texel
layout(binding = 11) uniform textureBuffer bias4;
layout(binding = 12) uniform utextureBuffer weight8;  // PACKED: the weight's f16 elements, 8 to a texel

layout(push_constant) uniform Push {
  uint rows, heads, d_model;
  uint q_offset, q_stride;        // q of (row, head) at q_offset + row * q_stride + head * HEAD_DIM
  uint kv_offset, kv_stride;      // k at kv_offset + key_row * kv_stride + head * HEAD_DIM, v d_model later
  uint capacity;                  // self: cache slots per row
  uint step_index;                // state[step_index] = this step (self)
  uint trace_offset;              // self: state[trace_offset + row * capacity + t] = cache row of key t
  uint sentence_offset;           // cross: state[sentence_offset + row] = sentence of the row ...
  uint rows_per_sentence;         // ... unless this is not 0: sentence = row / rows_per_sentence
  uint length_offset;             // cross: state[length_offset + sentence] = its source length
  uint source_capacity;           // cross: key rows per sentence
  uint out_offset, out_stride;
  float scale;
  uint scores_offset;             // SCORES: key t of (row, head) at scores_offset + (row * heads + head) * source_capacity + t
  uint weight_offset, bias_offset;  // PROJECT: weight row n at weight_offset + n * d_model
} p;

vec4 kv_vec4(uint base, uint i, bool in_cache) {
  return in_cache ? texelFetch(cache4, int(base / 4u + i)) : texelFetch(kv4, int(base / 4u + i));
}

float kv_scalar(uint index, bool in_cache) { return in_cache ? cache[index] : kv[index]; }

// The (row, head)'s sum of the LANE_COUNT invocations' partial sums, in each of them.
float lanes_sum(float partial) {
#ifdef LANES
  [[unroll]] for (uint mask = LANE_COUNT / 2u; mask > 0u; mask /= 2u) partial += subgroupShuffleXor(partial, mask);
#endif
  return partial;
}

// PROJECT: weight rows part * d_model + head * HEAD_DIM + dim0 + i for i < DIMS (part 0: q, 1: k, 2: v)
// times the row of x at x_base, plus the bias. Each x texel is loaded once for all DIMS rows.
void project(uint part, uint head, uint dim0, uint x_base, out vec4 result[PADDED]) {
  const uint first = part * p.d_model + head * HEAD_DIM + dim0;
  [[unroll]] for (uint i = 0; i <= DIMS / 4; ++i) result[i] = vec4(0.0);
  if (PACKED) {
    // Two texels of x and one fetch of each weight row per step (d_model is a multiple of 8).
    const uint row8 = p.d_model / 8u, w_base = (p.weight_offset + first * p.d_model) / 8u;
    for (uint u = 0; u < row8; ++u) {
      const vec4 x = texelFetch(q4, int(x_base / 4u + 2u * u)), x_next = texelFetch(q4, int(x_base / 4u + 2u * u + 1u));
      [[unroll]] for (uint i = 0; i < DIMS; ++i) {
        const uvec4 w = texelFetch(weight8, int(w_base + i * row8 + u));
        result[i / 4][i % 4] += dot(vec4(unpackHalf2x16(w.x), unpackHalf2x16(w.y)), x) +
                                dot(vec4(unpackHalf2x16(w.z), unpackHalf2x16(w.w)), x_next);
      }
    }
  } else if (VEC4) {
    const uint w_base = (p.weight_offset + first * p.d_model) / 4u;
    for (uint u = 0; u < p.d_model / 4u; ++u) {
      const vec4 x = texelFetch(q4, int(x_base / 4u + u));
      [[unroll]] for (uint i = 0; i < DIMS; ++i) {
        result[i / 4][i % 4] += dot(texelFetch(weight4, int(w_base + i * (p.d_model / 4u) + u)), x);
      }
    }
  } else {
    const uint w_base = p.weight_offset + first * p.d_model;
    for (uint k = 0; k < p.d_model; ++k) {
      const float x = q[x_base + k];
      [[unroll]] for (uint i = 0; i < DIMS; ++i) {
        const uint at = w_base + i * p.d_model + k;
        result[i / 4][i % 4] += texelFetch(weight4, int(at / 4u))[at % 4u] * x;
      }
    }
  }
  [[unroll]] for (uint i = 0; i < DIMS; ++i) {
    const uint at = p.bias_offset + first + i;
    result[i / 4][i % 4] += texelFetch(bias4, int(at / 4u))[at % 4u];
  }
}

void main() {
#ifdef LANES
  // The lanes of a (row, head) are consecutive in one subgroup (the host checks that workgroups are whole
  // subgroups, or one), so the shuffles in lanes_sum stay among them.
  const uint local = gl_SubgroupID * gl_SubgroupSize + gl_SubgroupInvocationID;
  const uint group = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  const uint id = group * (gl_WorkGroupSize.x / LANE_COUNT) + local / LANE_COUNT;
  const uint dim0 = local % LANE_COUNT * DIMS;
#else
  // Rows of workgroups beyond the grid's x limit (groups_for): y counts whole rows of them.
  const uint id = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  const uint dim0 = 0u;
#endif
  if (id >= p.rows * p.heads) return;  // all the lanes of a (row, head) or none
  // PROJECT: consecutive invocations take consecutive rows of one head, so the lanes of a CPU driver's
  // vector fetch the same weight texel.
  const uint row = PROJECT ? id % p.rows : id / p.heads, head = PROJECT ? id / p.rows : id % p.heads;

  vec4 qv[PADDED];
  [[unroll]] for (uint i = 0; i <= DIMS / 4; ++i) qv[i] = vec4(0.0);
  const uint q_base = p.q_offset + row * p.q_stride + head * HEAD_DIM + dim0;
  const uint x_base = p.q_offset + row * p.q_stride;  // PROJECT
  if (PROJECT) {
    project(0, head, dim0, x_base, qv);
    [[unroll]] for (uint i = 0; i <= DIMS / 4; ++i) qv[i] *= p.scale;
  } else if (VEC4) {
    [[unroll]] for (uint i = 0; i < V4; ++i) qv[i] = texelFetch(q4, int(q_base / 4u + i)) * p.scale;
  } else {
    [[unroll]] for (uint i = 0; i < DIMS; ++i) qv[i / 4][i % 4] = q[q_base + i] * p.scale;
  }

  uint keys;
  uint step = 0;
  uint sentence = 0;
  const uint new_kv = p.kv_offset + row * p.kv_stride + head * HEAD_DIM + dim0;  // self: this step's k
  float running_max = -1.0e30, total = 0.0;
  vec4 acc[PADDED];
  [[unroll]] for (uint i = 0; i <= DIMS / 4; ++i) acc[i] = vec4(0.0);
  if (CROSS) {
    sentence = p.rows_per_sentence != 0u ? row / p.rows_per_sentence : state[p.sentence_offset + row];
    keys = state[p.length_offset + sentence];
  } else {
    step = state[p.step_index];
    keys = step + 1;
    const uint to = (row * p.capacity + step) * 2u * p.d_model + head * HEAD_DIM + dim0;
    if (PROJECT) {
      // The online softmax from the step's own key: running max its score, total weight 1, acc its value.
      vec4 k[PADDED];
      project(1, head, dim0, x_base, k);
      float score = 0.0;
      [[unroll]] for (uint i = 0; i <= DIMS / 4; ++i) score += dot(qv[i], k[i]);
      running_max = lanes_sum(score);
      [[unroll]] for (uint i = 0; i < DIMS; ++i) cache[to + i] = k[i / 4][i % 4];
      project(2, head, dim0, x_base, acc);
      [[unroll]] for (uint i = 0; i < DIMS; ++i) cache[to + p.d_model + i] = acc[i / 4][i % 4];
      total = 1.0;
    } else {
      [[unroll]] for (uint i = 0; i < DIMS; ++i) {
        cache[to + i] = kv[new_kv + i];
        cache[to + p.d_model + i] = kv[new_kv + p.d_model + i];
      }
    }
  }

  // PROJECT (self) has attended the step's own key: the loop reads the cache's.
  const uint loop_keys = PROJECT && !CROSS ? step : keys;
  for (uint t = 0; t < loop_keys; ++t) {
    uint k_base;
    bool in_cache = false;  // this step's own key is read from kv: the cache's view may not see it yet
    if (CROSS) {
      k_base = p.kv_offset + (sentence * p.source_capacity + t) * p.kv_stride + head * HEAD_DIM + dim0;
    } else if (!PROJECT && t == step) {
      k_base = new_kv;
    } else {
      const uint slot_row = state[p.trace_offset + row * p.capacity + t];
      k_base = (slot_row * p.capacity + t) * 2u * p.d_model + head * HEAD_DIM + dim0;
      in_cache = true;
    }
    float score = 0.0;
    if (VEC4) {
      [[unroll]] for (uint i = 0; i < V4; ++i) score += dot(qv[i], kv_vec4(k_base, i, in_cache));
    } else {
      [[unroll]] for (uint i = 0; i < DIMS; ++i) score += qv[i / 4][i % 4] * kv_scalar(k_base + i, in_cache);
    }
    score = lanes_sum(score);
    if (SCORES && dim0 == 0u) scores[p.scores_offset + (row * p.heads + head) * p.source_capacity + t] = score;
    const float new_max = max(running_max, score);
    const float correction = exp(running_max - new_max);
    const float weight = exp(score - new_max);
    total = total * correction + weight;
    const uint v_base = k_base + p.d_model;
    if (VEC4) {
      [[unroll]] for (uint i = 0; i < V4; ++i) acc[i] = acc[i] * correction + weight * kv_vec4(v_base, i, in_cache);
    } else {
      [[unroll]] for (uint i = 0; i < DIMS; ++i) {
        acc[i / 4][i % 4] = acc[i / 4][i % 4] * correction + weight * kv_scalar(v_base + i, in_cache);
      }
    }
    running_max = new_max;
  }
  // No keys (an empty source) gives zeros rather than NaN.
  const float inverse = keys > 0 ? 1.0 / total : 0.0;
  const uint out_base = p.out_offset + row * p.out_stride + head * HEAD_DIM + dim0;
  if (VEC4) {
    [[unroll]] for (uint i = 0; i < V4; ++i) result4[out_base / 4u + i] = acc[i] * inverse;
  } else {
    [[unroll]] for (uint i = 0; i < DIMS; ++i) result[out_base + i] = acc[i / 4][i % 4] * inverse;
  }
}
