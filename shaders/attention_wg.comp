#version 450
// Fused attention for GPUs: one workgroup per (query row, head), the same inputs, modes and results as
// attention.comp (read its header), with the keys split across the workgroup ("flash decoding"): per
// chunk of WG keys, each invocation scores one key, the workgroup reduces the chunk's max and sum in
// shared memory, and each invocation accumulates its share of the HEAD_DIM outputs over the chunk's
// values (consecutive invocations read consecutive elements of a value row). Chunks are merged with a
// running max (online softmax), so any number of keys works. SCORES: as in attention.comp.
#extension GL_EXT_control_flow_attributes : enable
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;  // a power of two
layout(constant_id = 1) const bool CROSS = false;
layout(constant_id = 2) const uint HEAD_DIM = 64;
layout(constant_id = 3) const bool SCORES = false;
const uint OUTPUTS = (HEAD_DIM + WG - 1) / WG;  // output elements per invocation

layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 2) readonly buffer KV { float kv[]; };
layout(std430, binding = 4) buffer Cache { float cache[]; };
layout(std430, binding = 6) readonly buffer State { uint state[]; };
layout(std430, binding = 7) writeonly buffer Out { float result[]; };
layout(std430, binding = 9) writeonly buffer Scores { float scores[]; };

layout(push_constant) uniform Push {
  uint rows, heads, d_model;
  uint q_offset, q_stride;
  uint kv_offset, kv_stride;
  uint capacity;
  uint step_index;
  uint trace_offset;
  uint sentence_offset;
  uint rows_per_sentence;
  uint length_offset;
  uint source_capacity;
  uint out_offset, out_stride;
  float scale;
  uint scores_offset;
} p;

shared float q_s[HEAD_DIM];
shared float weight_s[WG];   // the chunk's scores, then their softmax weights
shared uint base_s[WG];      // where each key of the chunk starts; bit 31: in the cache, else in kv
shared float reduce_s[WG];

const uint IN_CACHE = 0x80000000u;

float key_value(uint tagged, uint i) {
  const uint index = (tagged & ~IN_CACHE) + i;
  return (tagged & IN_CACHE) != 0u ? cache[index] : kv[index];
}

// Max (is_max) or sum of reduce_s over the workgroup, returned to every invocation.
float workgroup_reduce(float value, bool is_max) {
  const uint lane = gl_LocalInvocationID.x;
  reduce_s[lane] = value;
  barrier();
  [[unroll]] for (uint stride = WG / 2; stride > 0; stride /= 2) {
    if (lane < stride) {
      reduce_s[lane] = is_max ? max(reduce_s[lane], reduce_s[lane + stride]) : reduce_s[lane] + reduce_s[lane + stride];
    }
    barrier();
  }
  const float result = reduce_s[0];
  barrier();
  return result;
}

void main() {
  const uint head = gl_WorkGroupID.x, row = gl_WorkGroupID.y;
  const uint lane = gl_LocalInvocationID.x;
  const uint q_base = p.q_offset + row * p.q_stride + head * HEAD_DIM;
  for (uint i = lane; i < HEAD_DIM; i += WG) q_s[i] = q[q_base + i] * p.scale;

  uint keys, step = 0, sentence = 0;
  const uint new_kv = p.kv_offset + row * p.kv_stride + head * HEAD_DIM;  // self: this step's k
  if (CROSS) {
    sentence = p.rows_per_sentence != 0u ? row / p.rows_per_sentence : state[p.sentence_offset + row];
    keys = state[p.length_offset + sentence];
  } else {
    step = state[p.step_index];
    keys = step + 1;
    const uint to = (row * p.capacity + step) * 2u * p.d_model + head * HEAD_DIM;
    for (uint i = lane; i < HEAD_DIM; i += WG) {
      cache[to + i] = kv[new_kv + i];
      cache[to + p.d_model + i] = kv[new_kv + p.d_model + i];
    }
  }
  barrier();

  float running_max = -1.0e30, total = 0.0;
  float acc[OUTPUTS];
  [[unroll]] for (uint j = 0; j < OUTPUTS; ++j) acc[j] = 0.0;
  for (uint t0 = 0; t0 < keys; t0 += WG) {
    const uint t = t0 + lane;
    float score = -1.0e30;
    if (t < keys) {
      uint tagged;
      if (CROSS) {
        tagged = p.kv_offset + (sentence * p.source_capacity + t) * p.kv_stride + head * HEAD_DIM;
      } else if (t == step) {
        tagged = new_kv;  // this step's own key: the cache write above is not visible to other invocations
      } else {
        const uint slot_row = state[p.trace_offset + row * p.capacity + t];
        tagged = ((slot_row * p.capacity + t) * 2u * p.d_model + head * HEAD_DIM) | IN_CACHE;
      }
      score = 0.0;
      [[unroll]] for (uint i = 0; i < HEAD_DIM; ++i) score += q_s[i] * key_value(tagged, i);
      base_s[lane] = tagged;
      if (SCORES) scores[p.scores_offset + (row * p.heads + head) * p.source_capacity + t] = score;
    }
    const float new_max = max(running_max, workgroup_reduce(score, true));
    const float weight = t < keys ? exp(score - new_max) : 0.0;
    weight_s[lane] = weight;
    const float correction = exp(running_max - new_max);
    total = total * correction + workgroup_reduce(weight, false);  // its barriers publish weight_s, base_s
    const uint chunk = min(WG, keys - t0);
    [[unroll]] for (uint j = 0; j < OUTPUTS; ++j) {
      const uint i = lane + j * WG;
      if (i >= HEAD_DIM) break;
      float sum = acc[j] * correction;
      for (uint k = 0; k < chunk; ++k) sum += weight_s[k] * key_value(base_s[k], p.d_model + i);
      acc[j] = sum;
    }
    running_max = new_max;
    barrier();  // the next chunk overwrites weight_s and base_s
  }
  // No keys (an empty source) gives zeros rather than NaN.
  const float inverse = keys > 0 ? 1.0 / total : 0.0;
  const uint out_base = p.out_offset + row * p.out_stride + head * HEAD_DIM;
  [[unroll]] for (uint j = 0; j < OUTPUTS; ++j) {
    const uint i = lane + j * WG;
    if (i < HEAD_DIM) result[out_base + i] = acc[j] * inverse;
  }
}
