#version 450
// Fused attention for one query row per sequence (a decoder step): each invocation owns one (row, head)
// and runs softmax(scale * q.k) v over its keys in one pass with a running max (online softmax), so a
// step's attention is a single dispatch whatever the key count.
//   self (CROSS = false): keys are the row's own earlier steps in the KV cache, found through the trace
//     table (beam search reorders hypotheses by pointing at other rows' slots instead of copying); the
//     step's new key and value are first stored in the cache at (row, step).
//   cross (CROSS = true): keys are the row's sentence's encoder positions, up to its source length.
// Run-time values (step, trace, row -> sentence, source lengths) live in `state`, written by the host per
// step, so recorded command buffers replay unchanged.
#extension GL_EXT_control_flow_attributes : enable
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const bool CROSS = false;
layout(constant_id = 2) const uint HEAD_DIM = 64;
layout(constant_id = 3) const bool VEC4 = true;  // HEAD_DIM, strides and offsets are multiples of 4
const uint V4 = VEC4 ? HEAD_DIM / 4 : 1;

layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer KV { float kv[]; };       // self: this step's k, v; cross: encoder k, v
layout(std430, binding = 2) buffer Cache { float cache[]; };          // self: [rows, capacity, 2 * d_model]
layout(std430, binding = 3) buffer Cache4 { vec4 cache4[]; };
layout(std430, binding = 4) readonly buffer KV4 { vec4 kv4[]; };
layout(std430, binding = 5) readonly buffer State { uint state[]; };
layout(std430, binding = 6) writeonly buffer Out { float result[]; };

layout(push_constant) uniform Push {
  uint rows, heads, d_model;
  uint q_offset, q_stride;        // q of (row, head) at q_offset + row * q_stride + head * HEAD_DIM
  uint kv_offset, kv_stride;      // k at kv_offset + key_row * kv_stride + head * HEAD_DIM, v d_model later
  uint capacity;                  // self: cache slots per row
  uint step_index;                // state[step_index] = this step (self)
  uint trace_offset;              // self: state[trace_offset + row * capacity + t] = cache row of key t
  uint sentence_offset;           // cross: state[sentence_offset + row] = sentence of the row
  uint length_offset;             // cross: state[length_offset + sentence] = its source length
  uint source_capacity;           // cross: encoder positions per sentence
  uint out_offset, out_stride;
  float scale;
} p;

float key_dot(uint base, const float qv[HEAD_DIM], bool in_cache) {
  float sum = 0.0;
  if (VEC4) {
    [[unroll]] for (uint i = 0; i < V4; ++i) {
      const vec4 k = in_cache ? cache4[base / 4u + i] : kv4[base / 4u + i];
      sum += dot(vec4(qv[4 * i], qv[4 * i + 1], qv[4 * i + 2], qv[4 * i + 3]), k);
    }
  } else {
    [[unroll]] for (uint i = 0; i < HEAD_DIM; ++i) sum += qv[i] * (in_cache ? cache[base + i] : kv[base + i]);
  }
  return sum;
}

void main() {
  const uint id = gl_GlobalInvocationID.x;
  if (id >= p.rows * p.heads) return;
  const uint row = id / p.heads, head = id % p.heads;

  float qv[HEAD_DIM];
  const uint q_base = p.q_offset + row * p.q_stride + head * HEAD_DIM;
  [[unroll]] for (uint i = 0; i < HEAD_DIM; ++i) qv[i] = q[q_base + i] * p.scale;

  uint keys;
  uint step = 0;
  if (CROSS) {
    keys = state[p.length_offset + state[p.sentence_offset + row]];
  } else {
    step = state[p.step_index];
    keys = step + 1;
    const uint from = p.kv_offset + row * p.kv_stride + head * HEAD_DIM;
    const uint to = (row * p.capacity + step) * 2u * p.d_model + head * HEAD_DIM;
    [[unroll]] for (uint i = 0; i < HEAD_DIM; ++i) {
      cache[to + i] = kv[from + i];
      cache[to + p.d_model + i] = kv[from + p.d_model + i];
    }
  }

  float running_max = -1.0e30, total = 0.0;
  float acc[HEAD_DIM];
  [[unroll]] for (uint i = 0; i < HEAD_DIM; ++i) acc[i] = 0.0;
  for (uint t = 0; t < keys; ++t) {
    uint k_base;
    if (CROSS) {
      k_base = p.kv_offset + (state[p.sentence_offset + row] * p.source_capacity + t) * p.kv_stride + head * HEAD_DIM;
    } else {
      const uint slot_row = t == step ? row : state[p.trace_offset + row * p.capacity + t];
      k_base = (slot_row * p.capacity + t) * 2u * p.d_model + head * HEAD_DIM;
    }
    const float score = key_dot(k_base, qv, !CROSS);
    const float new_max = max(running_max, score);
    const float correction = exp(running_max - new_max);
    const float weight = exp(score - new_max);
    total = total * correction + weight;
    const uint v_base = k_base + p.d_model;
    [[unroll]] for (uint i = 0; i < HEAD_DIM; ++i) {
      acc[i] = acc[i] * correction + weight * (CROSS ? kv[v_base + i] : cache[v_base + i]);
    }
    running_max = new_max;
  }
  // No keys (an empty source) gives zeros rather than NaN.
  const float inverse = keys > 0 ? 1.0 / total : 0.0;
  const uint out_base = p.out_offset + row * p.out_stride + head * HEAD_DIM;
  [[unroll]] for (uint i = 0; i < HEAD_DIM; ++i) result[out_base + i] = acc[i] * inverse;
}
