#version 450
// Fused attention for GPUs: one workgroup per (query row, head), the same inputs, modes and results as
// attention.comp (read its header), with the keys split across the workgroup ("flash decoding"): per
// chunk of WG keys, each invocation scores one key, the workgroup reduces the chunk's max and sum in
// shared memory, and each invocation accumulates its share of the HEAD_DIM outputs over the chunk's
// values (consecutive invocations read consecutive elements of a value row). Chunks are merged with a
// running max (online softmax), so any number of keys works. SCORES: as in attention.comp.
// PROJECT (as in attention.comp: q, and in self mode the step's k and v, projected from x): teams of TEAM
// invocations each take TEAM of the head's weight rows, consecutive invocations reading consecutive
// elements (texels under VEC4) of a row; the team's partial sums meet in shared memory, each invocation
// adds up one row's. The results stay in shared memory, k and v are also stored in the cache slot.
#extension GL_EXT_control_flow_attributes : enable
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;  // a power of two
layout(constant_id = 1) const bool CROSS = false;
layout(constant_id = 2) const uint HEAD_DIM = 64;
layout(constant_id = 3) const bool SCORES = false;
layout(constant_id = 4) const bool PROJECT = false;
layout(constant_id = 5) const bool VEC4 = false;  // PROJECT: x and weight rows start at whole texels
const uint OUTPUTS = (HEAD_DIM + WG - 1) / WG;  // output elements per invocation
const uint TEAM = WG < 8u ? WG : 8u;  // PROJECT: invocations per weight row
const uint PROJECTED = CROSS ? HEAD_DIM : 3 * HEAD_DIM;  // PROJECT: weight rows per head

layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(binding = 1) uniform textureBuffer q4;
layout(std430, binding = 2) readonly buffer KV { float kv[]; };
layout(std430, binding = 4) buffer Cache { float cache[]; };
layout(std430, binding = 6) readonly buffer State { uint state[]; };
layout(std430, binding = 7) writeonly buffer Out { float result[]; };
layout(std430, binding = 9) writeonly buffer Scores { float scores[]; };
layout(binding = 10) uniform textureBuffer weight4;
layout(binding = 11) uniform textureBuffer bias4;

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
  uint weight_offset, bias_offset;
} p;

shared float q_s[HEAD_DIM];
shared float weight_s[WG];   // the chunk's scores, then their softmax weights
shared uint base_s[WG];      // where each key of the chunk starts; bit 31: in the cache, else in kv
shared float reduce_s[WG];
shared float partial_s[PROJECT ? WG * (TEAM + 1) : 1];  // a row's partial sums TEAM + 1 apart: no bank conflicts
shared float k_s[PROJECT && !CROSS ? HEAD_DIM : 1], v_s[PROJECT && !CROSS ? HEAD_DIM : 1];

const uint IN_CACHE = 0x80000000u;
const uint NEW_KEY = 0xFFFFFFFFu;  // PROJECT: the step's own key, in k_s and v_s

float key_value(uint tagged, uint i) {
  const uint index = (tagged & ~IN_CACHE) + i;
  return (tagged & IN_CACHE) != 0u ? cache[index] : kv[index];
}

float key_at(uint tagged, uint i) { return PROJECT && tagged == NEW_KEY ? k_s[i] : key_value(tagged, i); }
float value_at(uint tagged, uint i) { return PROJECT && tagged == NEW_KEY ? v_s[i] : key_value(tagged, p.d_model + i); }

// PROJECT: element (VEC4: texel) u of the x row at x_base times that of weight row n.
float project_term(uint x_base, uint n, uint u) {
  if (VEC4) {
    return dot(texelFetch(q4, int(x_base / 4u + u)), texelFetch(weight4, int((p.weight_offset + n * p.d_model) / 4u + u)));
  }
  const uint at = p.weight_offset + n * p.d_model + u;
  return q[x_base + u] * texelFetch(weight4, int(at / 4u))[at % 4u];
}

// PROJECT: the head's rows of the weight (q, then k and v in self mode) times the x row, plus the bias, into
// q_s (scaled), k_s and v_s; the cache slot `to` gets k and v.
void project(uint head, uint x_base, uint to) {
  const uint lane = gl_LocalInvocationID.x, team = lane / TEAM, member = lane % TEAM;
  const uint units = VEC4 ? p.d_model / 4u : p.d_model;
  for (uint first = 0; first < PROJECTED; first += WG) {
    float sums[TEAM];
    [[unroll]] for (uint j = 0; j < TEAM; ++j) sums[j] = 0.0;
    for (uint u = member; u < units; u += TEAM) {
      [[unroll]] for (uint j = 0; j < TEAM; ++j) {
        const uint o = first + team * TEAM + j;
        if (o < PROJECTED) sums[j] += project_term(x_base, (o / HEAD_DIM) * p.d_model + head * HEAD_DIM + o % HEAD_DIM, u);
      }
    }
    [[unroll]] for (uint j = 0; j < TEAM; ++j) partial_s[(team * TEAM + j) * (TEAM + 1) + member] = sums[j];
    barrier();
    const uint o = first + lane;
    if (o < PROJECTED) {
      const uint part = o / HEAD_DIM, i = o % HEAD_DIM, bias_at = p.bias_offset + part * p.d_model + head * HEAD_DIM + i;
      float sum = texelFetch(bias4, int(bias_at / 4u))[bias_at % 4u];
      [[unroll]] for (uint j = 0; j < TEAM; ++j) sum += partial_s[lane * (TEAM + 1) + j];
      if (part == 0) {
        q_s[i] = sum * p.scale;
      } else if (part == 1) {
        k_s[i] = sum;
        cache[to + i] = sum;
      } else {
        v_s[i] = sum;
        cache[to + p.d_model + i] = sum;
      }
    }
    barrier();  // the next rows overwrite partial_s
  }
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
  if (!PROJECT) {
    for (uint i = lane; i < HEAD_DIM; i += WG) q_s[i] = q[q_base + i] * p.scale;
  }

  uint keys, step = 0, sentence = 0;
  const uint new_kv = p.kv_offset + row * p.kv_stride + head * HEAD_DIM;  // self: this step's k
  uint to = 0;  // self: the step's cache slot
  if (CROSS) {
    sentence = p.rows_per_sentence != 0u ? row / p.rows_per_sentence : state[p.sentence_offset + row];
    keys = state[p.length_offset + sentence];
  } else {
    step = state[p.step_index];
    keys = step + 1;
    to = (row * p.capacity + step) * 2u * p.d_model + head * HEAD_DIM;
    if (!PROJECT) {
      for (uint i = lane; i < HEAD_DIM; i += WG) {
        cache[to + i] = kv[new_kv + i];
        cache[to + p.d_model + i] = kv[new_kv + p.d_model + i];
      }
    }
  }
  if (PROJECT) project(head, p.q_offset + row * p.q_stride, to);  // ends with a barrier
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
        // This step's own key: the cache write above is not visible to other invocations.
        tagged = PROJECT ? NEW_KEY : new_kv;
      } else {
        const uint slot_row = state[p.trace_offset + row * p.capacity + t];
        tagged = ((slot_row * p.capacity + t) * 2u * p.d_model + head * HEAD_DIM) | IN_CACHE;
      }
      score = 0.0;
      [[unroll]] for (uint i = 0; i < HEAD_DIM; ++i) score += q_s[i] * key_at(tagged, i);
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
      for (uint k = 0; k < chunk; ++k) sum += weight_s[k] * value_at(base_s[k], i);
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
