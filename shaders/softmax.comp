#version 450
// out = softmax(scale·x + mask) along rows laid out [batch, heads, q_len, k_len]. Both masks (key
// lengths, causal) keep a prefix of the row, so a row reduces over keys [0, limit) and writes zeros past
// it; a row with limit 0 is all zeros. One workgroup per row; an online max/sum needs one read of the
// row for the reduction and one for the output. `out` may alias `x`: every element is read and written
// by the same invocation.
layout(constant_id = 0) const uint WG = 64;
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Out { float result[]; };
layout(std430, binding = 2) readonly buffer Lengths { uint key_lengths[]; };
layout(push_constant) uniform Push {
  uint rows;
  uint cols;
  uint heads;
  uint q_len;
  uint x_offset;
  uint out_offset;
  uint lengths_offset;
  uint use_lengths;
  uint causal;
  int causal_offset;
  float scale;
} p;

// Finite stand-in for -inf: exp(kLowest - m) is 0 without inf - inf, which drivers need not handle.
const float kLowest = -3.402823466e38;

shared float shared_max[WG];
shared float shared_sum[WG];

void main() {
  const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (row >= p.rows) return;  // uniform per workgroup
  const uint tid = gl_LocalInvocationID.x;
  const uint q = row % p.q_len;
  const uint b = row / (p.heads * p.q_len);

  int limit = int(p.cols);
  if (p.use_lengths != 0u) limit = min(limit, int(min(key_lengths[p.lengths_offset + b], p.cols)));
  if (p.causal != 0u) limit = clamp(int(q) + p.causal_offset + 1, 0, limit);

  const uint in_base = p.x_offset + row * p.cols;
  float m = kLowest, s = 0.0;
  for (int k = int(tid); k < limit; k += int(WG)) {
    const float v = p.scale * x[in_base + k];
    if (v > m) {
      s = s * exp(m - v) + 1.0;
      m = v;
    } else {
      s += exp(v - m);
    }
  }
  shared_max[tid] = m;
  shared_sum[tid] = s;
  barrier();
  // Tree reduction that also works for workgroup sizes that are not powers of two.
  for (uint n = WG; n > 1u;) {
    const uint half_n = (n + 1u) / 2u;
    if (tid < n - half_n) {
      const float m1 = shared_max[tid], m2 = shared_max[tid + half_n];
      const float mm = max(m1, m2);
      shared_sum[tid] = shared_sum[tid] * exp(m1 - mm) + shared_sum[tid + half_n] * exp(m2 - mm);
      shared_max[tid] = mm;
    }
    barrier();
    n = half_n;
  }
  const float row_max = shared_max[0];
  const float total = shared_sum[0];
  const float inv = total > 0.0 ? 1.0 / total : 0.0;

  const uint out_base = p.out_offset + row * p.cols;
  for (uint k = tid; k < p.cols; k += WG) {
    result[out_base + k] = int(k) < limit ? exp(p.scale * x[in_base + k] - row_max) * inv : 0.0;
  }
}
