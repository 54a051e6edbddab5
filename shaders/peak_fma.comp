#version 450
// The device's arithmetic ceiling, for `vkformer bench ops` and the profile's "% of peak": each
// invocation runs CHAINS independent vec4 multiply-add chains (enough to hide the FMA latency), p.iterations
// steps each, x = x * y + z, and stores their sum so no step can be optimised away. FLOPs per invocation:
// 2 * 4 * CHAINS * iterations. With y below 1 and z small every chain stays bounded, so the result
// is checked against an fp64 reference like any other kernel.
// Built twice (cmake/Shaders.cmake): peak_fma in f32, and peak_fma_f16 with F16 defined, whose chains are
// f16vec4 (shaderFloat16; packed half-precision FMAs where the device has them). Its y are further below
// 1 so that f16 rounding stays within a few ulps of each chain's fixed point z / (1 - y); the sum is f32.
#ifdef F16
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#define VEC4 f16vec4
#else
#define VEC4 vec4
#endif
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) writeonly buffer Out { float result[]; };
layout(push_constant) uniform Push {
  uint count, iterations, offset;
} p;
const uint CHAINS = 8;

void main() {
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  if (i >= p.count) return;
  const float seed = float(i % 1024u) / 1024.0;
  VEC4 x[CHAINS];
  for (uint c = 0; c < CHAINS; ++c) x[c] = VEC4(vec4(seed, seed + 0.25, seed + 0.5, seed + 0.75) + float(c) / 8.0);
#ifdef F16
  const VEC4 y = VEC4(0.5, 0.625, 0.75, 0.875), z = VEC4(0.25, 0.125, 0.0625, 0.03125);
#else
  const VEC4 y = VEC4(0.999, 0.998, 0.997, 0.996), z = VEC4(0.001, 0.002, 0.003, 0.004);
#endif
  for (uint t = 0; t < p.iterations; ++t) {
    for (uint c = 0; c < CHAINS; ++c) x[c] = fma(x[c], y, z);
  }
  vec4 sum = vec4(0.0);
  for (uint c = 0; c < CHAINS; ++c) sum += vec4(x[c]);
  result[p.offset + i] = sum.x + sum.y + sum.z + sum.w;
}
