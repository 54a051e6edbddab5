// Shared by the matmul shaders: C[z] = act(alpha * A[z] . op(B[z]) + bias), where op(B) = B^T when B is
// stored [N, K] (nn.Linear weights, spec constant B_TRANSPOSED) and B when stored [K, N]. Batch index
// z = outer * batch_inner + inner, each with its own element stride, so attention heads (inner) inside
// sentences (outer) are addressed in place without transpose copies.
#include "activation.glsl"

layout(constant_id = 1) const bool B_TRANSPOSED = true;

layout(std430, binding = 0) readonly buffer A { float a[]; };
// The vec4 views of A and B are uniform texel buffers: CPU drivers (llvmpipe) gather a texel fetch as
// one vector operation but run a storage-buffer load as a loop over lanes.
layout(binding = 1) uniform textureBuffer a4;
layout(std430, binding = 2) readonly buffer B { float b[]; };
layout(binding = 3) uniform textureBuffer b4;
layout(std430, binding = 4) readonly buffer Bias { float bias[]; };
layout(std430, binding = 5) writeonly buffer C { float c[]; };

layout(push_constant) uniform Push {
  uint M, N, K;
  uint a_offset, b_offset, c_offset, bias_offset;
  uint lda, ldb, ldc;
  uint batch_inner;
  uint a_outer, a_inner, b_outer, b_inner, c_outer, c_inner;
  float alpha;
  uint flags;  // bit 0: add bias; bit 1: rows of A and B start at multiples of 4 elements (vec4 loads);
               // bit 2: B holds f16 (read only through b4); bits 8-15: activation
} p;

vec4 load_a4(uint texel) { return texelFetch(a4, int(texel)); }
vec4 load_b4(uint texel) { return texelFetch(b4, int(texel)); }

bool b_is_f16() { return (p.flags & 4u) != 0u; }

// One element of B, from the texel view when B is f16 (the storage-buffer view would read f32).
float load_b(uint index) { return b_is_f16() ? load_b4(index / 4u)[index % 4u] : b[index]; }

bool has_bias() { return (p.flags & 1u) != 0u; }
bool vec4_loads() { return (p.flags & 2u) != 0u; }
uint activation_kind() { return (p.flags >> 8) & 255u; }

uint batch_base(uint z, uint outer_stride, uint inner_stride) {
  return (z / p.batch_inner) * outer_stride + (z % p.batch_inner) * inner_stride;
}

// Element index of B's (k, n) entry, whichever way B is stored.
uint b_index(uint base, uint k, uint n) {
  return B_TRANSPOSED ? base + n * p.ldb + k : base + k * p.ldb + n;
}

void store(uint c_base, uint m, uint n, float sum) {
  float value = p.alpha * sum;
  if (has_bias()) value += bias[p.bias_offset + n];
  c[c_base + m * p.ldc + n] = activate(value, activation_kind());
}
