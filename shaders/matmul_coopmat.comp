#version 450
// C = act(alpha * A . B^T + bias) (+ C's old value when accumulating) on tensor cores, through
// VK_NV_cooperative_matrix: A f32 [M, K] rounded to f16 as it is staged, B f16 [N, K] (weights as
// nn.Linear stores them), f32 accumulators and C. One matrix (no batch), any M, N and K: partial tiles
// are zero-filled in shared memory, and results reach C through shared memory, bounds-checked.
// The NV extension because Debian 12's glslang (11.13) cannot compile GL_KHR_cooperative_matrix; a KHR
// module can take the same bindings, push constants and constants (src/ops/matmul_coopmat.cpp).
// glslang declares the Vulkan memory model for NV matrices: the device enables vulkanMemoryModel.
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_control_flow_attributes : enable
#include "activation.glsl"

// SUBGROUPS_M x SUBGROUPS_N subgroups of the device's (fixed) size per workgroup.
layout(local_size_x_id = 0) in;
// The device's cooperative-matrix shape: A tiles TILE_M x TILE_K, B tiles TILE_K x TILE_N.
layout(constant_id = 1) const uint TILE_M = 16;
layout(constant_id = 2) const uint TILE_N = 16;
layout(constant_id = 3) const uint TILE_K = 16;
layout(constant_id = 4) const uint SUBGROUPS_M = 2;
layout(constant_id = 5) const uint SUBGROUPS_N = 2;
// Accumulator tiles per subgroup: TILES_M x TILES_N.
layout(constant_id = 6) const uint TILES_M = 4;
layout(constant_id = 7) const uint TILES_N = 4;
// Tiles of k per slice staged in shared memory.
layout(constant_id = 8) const uint K_TILES = 2;

const uint BM = SUBGROUPS_M * TILES_M * TILE_M;  // rows of C per workgroup
const uint BN = SUBGROUPS_N * TILES_N * TILE_N;  // columns of C per workgroup
const uint BK = K_TILES * TILE_K;
// Staged rows padded by 8 halves: cooperative loads want rows on 16-byte boundaries, and the pad
// spreads the rows of a tile over shared-memory banks.
const uint STRIDE = BK + 8;

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 0) readonly buffer A4 { vec4 a4[]; };
// B's f16 elements two to a word (and eight to a uvec4): 32-bit loads need no 16-bit storage feature.
layout(std430, binding = 1) readonly buffer B { uint b_words[]; };
layout(std430, binding = 1) readonly buffer B8 { uvec4 b_quads[]; };
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) buffer C { float c[]; };

layout(push_constant) uniform Push {
  uint M, N, K;
  uint a_offset, b_offset, c_offset, bias_offset;
  uint lda, ldb, ldc;
  float alpha;
  uint flags;  // bit 0: add bias; bit 1: A's rows start at multiples of 4 elements and K % 4 == 0 (vec4
               // loads); bit 2: B's rows at multiples of 8 and K % 8 == 0 (uvec4 loads); bit 3: C += the
               // result; bits 8-15: activation
} p;

shared float16_t tile_a[BM * STRIDE];  // [BM][BK] of A, row-major
shared float16_t tile_b[BN * STRIDE];  // [BN][BK] of B: the K x N operand, column-major
// One accumulator tile per subgroup on its way to C.
shared float tile_c[SUBGROUPS_M * SUBGROUPS_N * TILE_M * TILE_N];

// A's slice [m0, m0 + BM) x [k0, k0 + BK) into tile_a as f16, zeros outside A.
void stage_a(uint m0, uint k0) {
  if ((p.flags & 2u) != 0u) {
    for (uint i = gl_LocalInvocationID.x; i < BM * BK / 4; i += gl_WorkGroupSize.x) {
      const uint row = i / (BK / 4), col = 4 * (i % (BK / 4));
      const uint m = m0 + row, k = k0 + col;
      vec4 v = vec4(0.0);
      if (m < p.M && k < p.K) v = a4[(p.a_offset + m * p.lda + k) / 4];
      const uint at = row * STRIDE + col;
      tile_a[at] = float16_t(v.x);
      tile_a[at + 1] = float16_t(v.y);
      tile_a[at + 2] = float16_t(v.z);
      tile_a[at + 3] = float16_t(v.w);
    }
    return;
  }
  for (uint i = gl_LocalInvocationID.x; i < BM * BK; i += gl_WorkGroupSize.x) {
    const uint row = i / BK, col = i % BK;
    const uint m = m0 + row, k = k0 + col;
    float value = 0.0;
    if (m < p.M && k < p.K) value = a[p.a_offset + m * p.lda + k];
    tile_a[row * STRIDE + col] = float16_t(value);
  }
}

// B's rows [n0, n0 + BN), columns [k0, k0 + BK) into tile_b, zeros outside B.
void stage_b(uint n0, uint k0) {
  if ((p.flags & 4u) != 0u) {
    for (uint i = gl_LocalInvocationID.x; i < BN * BK / 8; i += gl_WorkGroupSize.x) {
      const uint row = i / (BK / 8), col = 8 * (i % (BK / 8));
      const uint n = n0 + row, k = k0 + col;
      uvec4 q = uvec4(0);  // four pairs of f16 zeros
      if (n < p.N && k < p.K) q = b_quads[(p.b_offset + n * p.ldb + k) / 8];
      const uint at = row * STRIDE + col;
      [[unroll]] for (uint j = 0; j < 4; ++j) {
        const f16vec2 pair = unpackFloat2x16(q[j]);
        tile_b[at + 2 * j] = pair.x;
        tile_b[at + 2 * j + 1] = pair.y;
      }
    }
    return;
  }
  for (uint i = gl_LocalInvocationID.x; i < BN * BK; i += gl_WorkGroupSize.x) {
    const uint row = i / BK, col = i % BK;
    const uint n = n0 + row, k = k0 + col;
    float16_t value = float16_t(0.0);
    if (n < p.N && k < p.K) {
      const uint element = p.b_offset + n * p.ldb + k;
      value = unpackFloat2x16(b_words[element / 2])[element % 2];
    }
    tile_b[row * STRIDE + col] = value;
  }
}

void store(uint m, uint n, float sum) {
  float value = p.alpha * sum;
  if ((p.flags & 1u) != 0u) value += bias[p.bias_offset + n];
  value = activate(value, (p.flags >> 8) & 255u);
  const uint at = p.c_offset + m * p.ldc + n;
  if ((p.flags & 8u) != 0u) value += c[at];
  c[at] = value;
}

void main() {
  // Subgroup (sg_m, sg_n) computes rows m0 + sg_m * TILES_M * TILE_M ... of C, likewise columns.
  const uint sg_m = gl_SubgroupID / SUBGROUPS_N, sg_n = gl_SubgroupID % SUBGROUPS_N;
  const uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN;
  fcoopmatNV<32, gl_ScopeSubgroup, TILE_M, TILE_N> acc[TILES_M * TILES_N];
  [[unroll]] for (uint t = 0; t < TILES_M * TILES_N; ++t) {
    acc[t] = fcoopmatNV<32, gl_ScopeSubgroup, TILE_M, TILE_N>(0.0);
  }

  for (uint k0 = 0; k0 < p.K; k0 += BK) {
    stage_a(m0, k0);
    stage_b(n0, k0);
    barrier();
    [[unroll]] for (uint kt = 0; kt < K_TILES; ++kt) {
      fcoopmatNV<16, gl_ScopeSubgroup, TILE_M, TILE_K> mat_a[TILES_M];
      [[unroll]] for (uint i = 0; i < TILES_M; ++i) {
        coopMatLoadNV(mat_a[i], tile_a, ((sg_m * TILES_M + i) * TILE_M) * STRIDE + kt * TILE_K, STRIDE, false);
      }
      [[unroll]] for (uint j = 0; j < TILES_N; ++j) {
        fcoopmatNV<16, gl_ScopeSubgroup, TILE_K, TILE_N> mat_b;
        coopMatLoadNV(mat_b, tile_b, ((sg_n * TILES_N + j) * TILE_N) * STRIDE + kt * TILE_K, STRIDE, true);
        [[unroll]] for (uint i = 0; i < TILES_M; ++i) {
          acc[i * TILES_N + j] = coopMatMulAddNV(mat_a[i], mat_b, acc[i * TILES_N + j]);
        }
      }
    }
    barrier();  // the slice is read before the next one is staged over it
  }

  // Each tile through this subgroup's part of tile_c: the lanes' elements of a cooperative matrix are
  // not addressable, and C's edges, bias, activation and accumulation need them one by one.
  const uint staged = gl_SubgroupID * TILE_M * TILE_N;
  [[unroll]] for (uint i = 0; i < TILES_M; ++i) {
    [[unroll]] for (uint j = 0; j < TILES_N; ++j) {
      const uint row0 = m0 + (sg_m * TILES_M + i) * TILE_M, col0 = n0 + (sg_n * TILES_N + j) * TILE_N;
      if (row0 >= p.M || col0 >= p.N) continue;  // uniform in the subgroup
      coopMatStoreNV(acc[i * TILES_N + j], tile_c, staged, TILE_N, false);
      subgroupMemoryBarrierShared();
      subgroupBarrier();
      for (uint e = gl_SubgroupInvocationID; e < TILE_M * TILE_N; e += gl_SubgroupSize) {
        const uint m = row0 + e / TILE_N, n = col0 + e % TILE_N;
        if (m < p.M && n < p.N) store(m, n, tile_c[staged + e]);
      }
      subgroupBarrier();  // read before the next tile is stored over it
    }
  }
}
