#version 450
// out = (v - mean) / sqrt(var + eps) * gamma + beta with v = x + residual (residual optional), per row;
// biased variance, like torch. Two passes: the mean, then the variance around it. Both work on v - v[0]
// (exact for values near each other), so a row far from zero, e.g. 1e3 ± 1, keeps its small deviations. One workgroup per row; `out` may alias `x`
// or `residual`: every element is read and written by the same invocation.
layout(constant_id = 0) const uint WG = 64;
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Residual { float residual[]; };
layout(std430, binding = 2) readonly buffer Gamma { float gamma[]; };
layout(std430, binding = 3) readonly buffer Beta { float beta[]; };
layout(std430, binding = 4) writeonly buffer Out { float result[]; };
layout(push_constant) uniform Push {
  uint rows;
  uint cols;
  uint x_offset;
  uint residual_offset;
  uint gamma_offset;
  uint beta_offset;
  uint out_offset;
  uint use_residual;
  float eps;
} p;

shared float partial[WG];

float value(uint row, uint k) {
  float v = x[p.x_offset + row * p.cols + k];
  if (p.use_residual != 0u) v += residual[p.residual_offset + row * p.cols + k];
  return v;
}

// Sum of `partial` over the workgroup; works for sizes that are not powers of two.
float workgroup_sum(float mine) {
  const uint tid = gl_LocalInvocationID.x;
  partial[tid] = mine;
  barrier();
  for (uint n = WG; n > 1u;) {
    const uint half_n = (n + 1u) / 2u;
    if (tid < n - half_n) partial[tid] += partial[tid + half_n];
    barrier();
    n = half_n;
  }
  const float total = partial[0];
  barrier();  // partial[] is reused by the next call
  return total;
}

void main() {
  const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (row >= p.rows) return;  // uniform per workgroup
  const uint tid = gl_LocalInvocationID.x;

  const float shift = value(row, 0u);
  float sum = 0.0;
  for (uint k = tid; k < p.cols; k += WG) sum += value(row, k) - shift;
  const float mean = workgroup_sum(sum) / float(p.cols);  // of v - shift

  float squares = 0.0;
  for (uint k = tid; k < p.cols; k += WG) {
    const float d = (value(row, k) - shift) - mean;
    squares += d * d;
  }
  const float inv_std = inversesqrt(workgroup_sum(squares) / float(p.cols) + p.eps);

  for (uint k = tid; k < p.cols; k += WG) {
    const float normalized = ((value(row, k) - shift) - mean) * inv_std;
    result[p.out_offset + row * p.cols + k] = normalized * gamma[p.gamma_offset + k] + beta[p.beta_offset + k];
  }
}
