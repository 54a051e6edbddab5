// Shared by the matmul shaders: C[z] = act(alpha * A[z] . op(B[z]) + bias) (+ C[z] under ACCUMULATE), where
// op(B) = B^T when B is stored [N, K] (nn.Linear weights, spec constant B_TRANSPOSED) and B when stored [K, N]. Batch index
// z = outer * batch_inner + inner, each with its own element stride, so attention heads (inner) inside
// sentences (outer) are addressed in place without transpose copies.
#include "activation.glsl"

layout(constant_id = 1) const bool B_TRANSPOSED = true;
// B holds bf16 (1), i8 (2) or i16 (3), widened as it is loaded; 0: f32 or f16 (flags bit 2 says which).
// A constant, so that each pipeline holds only its own widening: CPU drivers test every run-time branch
// per load. Id 7: after every shader's own constants.
layout(constant_id = 7) const uint B_KIND = 0u;
const uint KIND_BF16 = 1u, KIND_I8 = 2u, KIND_I16 = 3u;
const bool B_QUANTIZED = B_KIND != 0u;
// C += the product (a pre-norm layer's residual, x += f): a constant, so that the other pipelines compile
// as if it did not exist (even a skipped load in the store slowed them on llvmpipe).
layout(constant_id = 8) const bool ACCUMULATE = false;
// B_PACKED: B (f16, bf16, i8 or i16, stored [N, K], rows starting at multiples of 8 elements) is read by
// the register and gemv kernels' main loops 8 elements to a fetch of b8 (load_b8): CPU drivers pay per
// texel fetch, whatever its width, and f16 read as RGBA16F took twice the fetches (docs/BENCHMARKS.md).
layout(constant_id = 10) const bool B_PACKED = false;

layout(std430, binding = 0) readonly buffer A { float a[]; };
// The vec4 views of A and B are uniform texel buffers: CPU drivers (llvmpipe) gather a texel fetch as
// one vector operation but run a storage-buffer load as a loop over lanes.
layout(binding = 1) uniform textureBuffer a4;
layout(std430, binding = 2) readonly buffer B { float b[]; };
layout(std430, binding = 2) readonly buffer BWords { uint b_words[]; };  // B's bf16/i8/i16 elements, packed
layout(binding = 3) uniform textureBuffer b4;
layout(std430, binding = 4) readonly buffer Bias { float bias[]; };
// NORM (a second build of each matmul shader, matmul_norm.glsl): C is coherent, so that the workgroup
// that normalizes a block of rows sees the other workgroups' columns.
#ifdef NORM
#define C_COHERENT coherent
#else
#define C_COHERENT
#endif
layout(std430, binding = 5) C_COHERENT writeonly buffer C { float c[]; };
// C's old values under ACCUMULATE: each element is read and then written by the one invocation that
// computes it. A second, readonly declaration: C itself stays writeonly.
layout(std430, binding = 5) C_COHERENT readonly buffer Residual { float residual[]; };
// B's elements when narrower than f32, 8 to a texel (Buffer::uint_view: R32G32B32A32_UINT, R32G32_UINT for
// i8), and a quantized B's f32 scales as vec4 texels (texture bindings: every device allows 16, but only 4
// storage buffers).
layout(binding = 6) uniform utextureBuffer b8;
layout(binding = 7) uniform textureBuffer scale4;

layout(push_constant) uniform Push {
  uint M, N, K;
  uint a_offset, b_offset, c_offset, bias_offset;
  uint lda, ldb, ldc;
  uint batch_inner;
  uint a_outer, a_inner, b_outer, b_inner, c_outer, c_inner;
  float alpha;
  uint flags;  // bit 0: add bias; bit 1: rows of A and B start at multiples of 4 elements (vec4 loads);
               // bit 2: B holds f16 (read only through b4); bits 8-15: activation
  uint scale_offset;  // first scale in scale4, in floats
#ifdef NORM
  uint counter_offset, gamma_offset, beta_offset, normed_offset;
  float eps;
#endif
} p;

// Four elements of B from the words that hold them (two; i8: one, in .x) to f32: f16 as halves, bf16 as
// the upper half of an f32, i8 and i16 sign-extended (the division by the scale waits for the sum:
// store()).
vec4 widen4(uvec2 w) {
  if (!B_QUANTIZED) return vec4(unpackHalf2x16(w.x), unpackHalf2x16(w.y));
  if (B_KIND == KIND_I8) return vec4((ivec4(w.x) << ivec4(24, 16, 8, 0)) >> 24);
  if (B_KIND == KIND_BF16) return uintBitsToFloat(uvec4(w.x << 16, w.x & 0xFFFF0000u, w.y << 16, w.y & 0xFFFF0000u));
  return vec4((ivec4(w.xxyy) << ivec4(16, 0, 16, 0)) >> 16);
}

vec4 load_a4(uint texel) { return texelFetch(a4, int(texel)); }

// Texel `texel` of B's vec4 view: elements 4 * texel .. + 3 (a quantized B's from half of a b8 texel).
vec4 load_b4(uint texel) {
  if (!B_QUANTIZED) return texelFetch(b4, int(texel));
  const uvec4 u = texelFetch(b8, int(texel / 2u));
  const bool high = (texel & 1u) != 0u;
  if (B_KIND == KIND_I8) return widen4(uvec2(high ? u.y : u.x, 0u));
  return widen4(high ? u.zw : u.xy);
}

// Texels 2 * pair and 2 * pair + 1 of B's vec4 view from one fetch (B_PACKED).
void load_b8(uint pair, out vec4 low, out vec4 high) {
  const uvec4 u = texelFetch(b8, int(pair));
  low = widen4(u.xy);
  high = widen4(B_KIND == KIND_I8 ? u.yw : u.zw);
}

bool b_is_f16() { return (p.flags & 4u) != 0u; }

// One quantized element from B's packed words (any offset; the texel view may not exist).
float load_b_quantized(uint index) {
  if (B_KIND == KIND_I8) return float(bitfieldExtract(int(b_words[index / 4u]), int(8u * (index % 4u)), 8));
  const uint word = b_words[index / 2u];
  if (B_KIND == KIND_BF16) return uintBitsToFloat((index % 2u) == 0u ? word << 16 : word & 0xFFFF0000u);
  return float(bitfieldExtract(int(word), int(16u * (index % 2u)), 16));
}

// One element of B, from the texel view when B is f16 (the storage-buffer view would read f32).
float load_b(uint index) {
  if (B_QUANTIZED) return load_b_quantized(index);
  return b_is_f16() ? load_b4(index / 4u)[index % 4u] : b[index];
}

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

// What the epilogue adds to and divides each column by: its bias and (i8/i16 B) its scale. Loaded once
// per column an invocation stores, not per element: on CPU drivers each storage-buffer load is a loop
// over the lanes, and reloading the bias for every row cost the logits matmul 19% (docs/BENCHMARKS.md).
struct Column {
  float bias, scale;
};

Column column(uint n) {
  Column col = Column(0.0, 1.0);
  if (has_bias()) col.bias = bias[p.bias_offset + n];
  if (B_QUANTIZED && B_KIND != KIND_BF16) {
    const uint at = p.scale_offset + (B_KIND == KIND_I8 ? n : 0u);
    col.scale = texelFetch(scale4, int(at / 4u))[at % 4u];
  }
  return col;
}

void store(uint c_base, uint m, uint n, float sum, Column col) {
  if (B_QUANTIZED && B_KIND != KIND_BF16) sum /= col.scale;  // w = q / scale, once per output
  float value = p.alpha * sum;
  if (has_bias()) value += col.bias;
  const uint at = c_base + m * p.ldc + n;
  value = activate(value, activation_kind());
  if (ACCUMULATE) value += residual[at];
  c[at] = value;
}
