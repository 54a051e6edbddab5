#version 450
// out = (v - mean) / sqrt(var + eps) * gamma + beta with v = x + residual (residual optional), per row;
// biased variance, like torch. Two passes: the mean, then the variance around it. Both work on v - v[0]
// (exact for values near each other), so a row far from zero, e.g. 1e3 ± 1, keeps its small deviations.
// One workgroup per row; sums are subgroup reductions, combined through shared memory only when the
// workgroup has several subgroups (on CPU drivers a workgroup is one subgroup: no barriers). `out` may
// alias `x` or `residual`: every element is read and written by the same invocation, reads first.
// With VEC4, reads go through vec4 texel views (vector gathers on CPU drivers) and writes are vec4.
// Built twice (cmake/Shaders.cmake): layer_norm, and layer_norm_nosubgroup with NO_SUBGROUP defined,
// which sums through shared memory alone and declares no subgroup capability, so that it is valid on
// devices without subgroup arithmetic in compute shaders.
#ifndef NO_SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : enable
#endif
// texelFetch on a textureBuffer: no OpTypeSampledImage of Dim Buffer, which SPIR-V 1.6 forbids and
// Mesa 25 warns about.
#extension GL_EXT_samplerless_texture_functions : require
layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const bool VEC4 = false;  // cols and offsets are multiples of 4
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Residual { float residual[]; };
layout(std430, binding = 2) readonly buffer Gamma { float gamma[]; };
layout(std430, binding = 3) readonly buffer Beta { float beta[]; };
layout(std430, binding = 4) writeonly buffer Out { float result[]; };
layout(binding = 5) uniform textureBuffer x4;
layout(binding = 6) uniform textureBuffer residual4;
layout(binding = 7) uniform textureBuffer gamma4;
layout(binding = 8) uniform textureBuffer beta4;
layout(std430, binding = 9) writeonly buffer Out4 { vec4 result4[]; };
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

// Element k (VEC4: elements 4k..4k+3) of the row's v, minus `shift`.
vec4 value4(uint row, uint k, float shift) {
  vec4 v = texelFetch(x4, int((p.x_offset + row * p.cols) / 4u + k));
  if (p.use_residual != 0u) v += texelFetch(residual4, int((p.residual_offset + row * p.cols) / 4u + k));
  return v - shift;
}

float value(uint row, uint k, float shift) {
  float v = x[p.x_offset + row * p.cols + k];
  if (p.use_residual != 0u) v += residual[p.residual_offset + row * p.cols + k];
  return v - shift;
}

// Sum over the workgroup; works for sizes that are not powers of two.
float workgroup_sum(float mine) {
#ifndef NO_SUBGROUP
  const float sum = subgroupAdd(mine);
  if (gl_NumSubgroups == 1u) return sum;
  if (subgroupElect()) partial[gl_SubgroupID] = sum;
  barrier();
  float total = 0.0;
  for (uint i = 0; i < gl_NumSubgroups; ++i) total += partial[i];
  barrier();  // partial[] is reused by the next call
  return total;
#else
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
  barrier();
  return total;
#endif
}

void main() {
  const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (row >= p.rows) return;  // uniform per workgroup
  const uint tid = gl_LocalInvocationID.x;
  const float shift = value(row, 0u, 0.0);
  const uint n = VEC4 ? p.cols / 4u : p.cols;

  float sum = 0.0;
  for (uint k = tid; k < n; k += WG) {
    if (VEC4) {
      sum += dot(value4(row, k, shift), vec4(1.0));
    } else {
      sum += value(row, k, shift);
    }
  }
  const float mean = workgroup_sum(sum) / float(p.cols);  // of v - shift

  float squares = 0.0;
  for (uint k = tid; k < n; k += WG) {
    if (VEC4) {
      const vec4 d = value4(row, k, shift) - mean;
      squares += dot(d, d);
    } else {
      const float d = value(row, k, shift) - mean;
      squares += d * d;
    }
  }
  const float inv_std = inversesqrt(workgroup_sum(squares) / float(p.cols) + p.eps);

  for (uint k = tid; k < n; k += WG) {
    if (VEC4) {
      const vec4 normalized = (value4(row, k, shift) - mean) * inv_std;
      result4[(p.out_offset + row * p.cols) / 4u + k] =
          normalized * texelFetch(gamma4, int(p.gamma_offset / 4u + k)) + texelFetch(beta4, int(p.beta_offset / 4u + k));
    } else {
      const float normalized = (value(row, k, shift) - mean) * inv_std;
      result[p.out_offset + row * p.cols + k] = normalized * gamma[p.gamma_offset + k] + beta[p.beta_offset + k];
    }
  }
}
