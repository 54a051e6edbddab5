#version 450
// Encoder self-attention for GPUs, tiled over query blocks: workgroup (x, y, z) = (query block, head,
// sentence) takes QUERIES consecutive positions of one sentence, one query per invocation. The sentence's
// keys and values (up to its length) pass through shared memory KEYS rows at a time, loaded by the whole
// workgroup with consecutive invocations on consecutive elements, so each is read from memory once per
// query block rather than once per query; then every invocation reads the same shared element at once (a
// broadcast). Softmax with a running max (online), as attention.comp.
// Positions past the sentence's length are computed as well: they are rows of the batch that later
// dispatches read, and no real position ever attends to them.
#extension GL_EXT_control_flow_attributes : enable
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint QUERIES = 64;
layout(constant_id = 1) const uint HEAD_DIM = 64;
layout(constant_id = 2) const uint KEYS = 32;  // keys per chunk

layout(std430, binding = 0) readonly buffer QKV { float qkv[]; };
layout(std430, binding = 1) readonly buffer State { uint state[]; };
layout(std430, binding = 2) writeonly buffer Out { float result[]; };

layout(push_constant) uniform Push {
  uint positions;              // rows per sentence
  uint d_model;
  uint qkv_offset, qkv_stride;  // q of (row, head) at qkv_offset + row * qkv_stride + head * HEAD_DIM, k d_model
                                // later, v 2 * d_model later
  uint length_offset;          // state[length_offset + sentence] = its length
  uint out_offset, out_stride;
  float scale;
} p;

shared float k_s[KEYS * HEAD_DIM];
shared float v_s[KEYS * HEAD_DIM];

void main() {
  const uint sentence = gl_WorkGroupID.z, head = gl_WorkGroupID.y;
  const uint position = gl_WorkGroupID.x * QUERIES + gl_LocalInvocationID.x;
  const uint first_row = sentence * p.positions;
  const uint length = min(state[p.length_offset + sentence], p.positions);

  // Invocations past the last position load keys with the others, and store nothing.
  float q[HEAD_DIM], acc[HEAD_DIM];
  const uint q_base = p.qkv_offset + (first_row + min(position, p.positions - 1u)) * p.qkv_stride + head * HEAD_DIM;
  [[unroll]] for (uint i = 0; i < HEAD_DIM; ++i) {
    q[i] = qkv[q_base + i] * p.scale;
    acc[i] = 0.0;
  }
  float running_max = -1.0e30, total = 0.0;
  for (uint t0 = 0; t0 < length; t0 += KEYS) {
    const uint chunk = min(KEYS, length - t0);
    for (uint e = gl_LocalInvocationID.x; e < chunk * HEAD_DIM; e += QUERIES) {
      const uint at = p.qkv_offset + (first_row + t0 + e / HEAD_DIM) * p.qkv_stride + head * HEAD_DIM + e % HEAD_DIM;
      k_s[e] = qkv[at + p.d_model];
      v_s[e] = qkv[at + 2u * p.d_model];
    }
    barrier();
    for (uint t = 0; t < chunk; ++t) {
      float score = 0.0;
      [[unroll]] for (uint i = 0; i < HEAD_DIM; ++i) score += q[i] * k_s[t * HEAD_DIM + i];
      const float new_max = max(running_max, score);
      const float correction = exp(running_max - new_max);
      const float weight = exp(score - new_max);
      total = total * correction + weight;
      [[unroll]] for (uint i = 0; i < HEAD_DIM; ++i) acc[i] = acc[i] * correction + weight * v_s[t * HEAD_DIM + i];
      running_max = new_max;
    }
    barrier();  // every invocation is done with this chunk before the next overwrites it
  }
  if (position >= p.positions) return;
  // No keys (an empty sentence) gives zeros rather than NaN.
  const float inverse = length > 0u ? 1.0 / total : 0.0;
  const uint out_base = p.out_offset + (first_row + position) * p.out_stride + head * HEAD_DIM;
  [[unroll]] for (uint i = 0; i < HEAD_DIM; ++i) result[out_base + i] = acc[i] * inverse;
}
