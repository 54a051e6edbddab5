#version 450
// Per row: a decoding step's host-written logit edits (repetition penalty, banned n-grams), after an
// optional log-softmax (transformers' beam search edits log-probabilities). First out = x, or
// x - logsumexp(row) with `log_softmax`; then for each of the row's edits, token t: out[t] = -FLT_MAX for
// a ban (a finite stand-in for -inf: the top-k kernel takes an infinity for a numerical blow-up), else
// out[t] * P if negative and out[t] / P if not (the penalty P). The edits buffer (uint): P's float bits
// at edits_offset, then `stride` words per row: a count, then that many entries, each a token id with
// bit 31 set for a ban. A row's tokens are distinct. `out` may alias `x`. One workgroup per row.
layout(constant_id = 0) const uint WG = 64;
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
// coherent: the edits read values other invocations of the workgroup wrote.
layout(std430, binding = 1) coherent buffer Out { float result[]; };
layout(std430, binding = 2) readonly buffer Edits { uint edits[]; };
layout(push_constant) uniform Push {
  uint rows;
  uint cols;
  uint x_offset;
  uint out_offset;
  uint edits_offset;
  uint stride;
  uint log_softmax;
} p;

const float kLowest = -3.402823466e38;  // finite stand-in for -inf (see softmax.comp)
const uint kBan = 0x80000000u;

shared float shared_max[WG];
shared float shared_sum[WG];

void main() {
  const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (row >= p.rows) return;  // uniform per workgroup
  const uint tid = gl_LocalInvocationID.x;
  const uint in_base = p.x_offset + row * p.cols;
  const uint out_base = p.out_offset + row * p.cols;

  float lse = 0.0;
  if (p.log_softmax != 0u) {  // uniform: an online max/sum, then a tree reduction (as softmax.comp)
    float m = kLowest, s = 0.0;
    for (uint c = tid; c < p.cols; c += WG) {
      const float v = x[in_base + c];
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
    lse = shared_max[0] + log(shared_sum[0]);
  }
  for (uint c = tid; c < p.cols; c += WG) result[out_base + c] = x[in_base + c] - lse;
  memoryBarrierBuffer();
  barrier();

  const float penalty = uintBitsToFloat(edits[p.edits_offset]);
  const uint first = p.edits_offset + 1u + row * p.stride;
  const uint count = edits[first];
  for (uint e = tid; e < count; e += WG) {
    const uint entry = edits[first + 1u + e];
    const uint token = entry & ~kBan;
    if (token >= p.cols) continue;  // never written out of the row
    const float v = result[out_base + token];
    result[out_base + token] = (entry & kBan) != 0u ? kLowest : (v < 0.0 ? v * penalty : v / penalty);
  }
}
