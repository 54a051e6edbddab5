#version 450
// Shared-memory tiled matmul with register blocking, for GPUs: a workgroup stages a TILE_K slice of its
// (WG_Y*TM) x (WG_X*TN) block's A rows and B columns in shared memory, then each invocation accumulates a
// TM x TN block from it. Loads are bounds-checked (zero fill), so any M, N, K works.
#extension GL_EXT_control_flow_attributes : enable
layout(local_size_x_id = 0, local_size_y_id = 2) in;
layout(constant_id = 0) const uint WG_X = 8;
layout(constant_id = 2) const uint WG_Y = 8;
layout(constant_id = 3) const uint TM = 4;
layout(constant_id = 4) const uint TN = 4;
layout(constant_id = 5) const uint TILE_K = 16;
#include "matmul_common.glsl"

const uint BM = WG_Y * TM;
const uint BN = WG_X * TN;
const uint THREADS = WG_X * WG_Y;
shared float tile_a[TILE_K * BM];  // [k][m]
shared float tile_b[TILE_K * BN];  // [k][n]

void main() {
  const uint z = gl_WorkGroupID.z;
  const uint block_m = gl_WorkGroupID.y * BM;
  const uint block_n = gl_WorkGroupID.x * BN;
  const uint tx = gl_LocalInvocationID.x;
  const uint ty = gl_LocalInvocationID.y;
  const uint thread = ty * WG_X + tx;
  const uint a_base = p.a_offset + batch_base(z, p.a_outer, p.a_inner);
  const uint b_base = p.b_offset + batch_base(z, p.b_outer, p.b_inner);
  const uint c_base = p.c_offset + batch_base(z, p.c_outer, p.c_inner);

  float acc[TM][TN];
  [[unroll]] for (uint i = 0; i < TM; ++i) [[unroll]] for (uint j = 0; j < TN; ++j) acc[i][j] = 0.0;

  for (uint k0 = 0; k0 < p.K; k0 += TILE_K) {
    // Consecutive threads take consecutive k for A (contiguous rows) and, for B, whichever index is contiguous.
    for (uint e = thread; e < TILE_K * BM; e += THREADS) {
      const uint kk = e % TILE_K, mm = e / TILE_K;
      const uint m = block_m + mm, k = k0 + kk;
      tile_a[kk * BM + mm] = (m < p.M && k < p.K) ? a[a_base + m * p.lda + k] : 0.0;
    }
    for (uint e = thread; e < TILE_K * BN; e += THREADS) {
      const uint kk = B_TRANSPOSED ? e % TILE_K : e / BN;
      const uint nn = B_TRANSPOSED ? e / TILE_K : e % BN;
      const uint n = block_n + nn, k = k0 + kk;
      tile_b[kk * BN + nn] = (n < p.N && k < p.K) ? load_b(b_index(b_base, k, n)) : 0.0;
    }
    barrier();
    [[unroll]] for (uint kk = 0; kk < TILE_K; ++kk) {
      float av[TM];
      float bv[TN];
      // Interleaved ownership (row ty + i*WG_Y) keeps shared-memory reads of a warp on distinct banks.
      [[unroll]] for (uint i = 0; i < TM; ++i) av[i] = tile_a[kk * BM + ty + i * WG_Y];
      [[unroll]] for (uint j = 0; j < TN; ++j) bv[j] = tile_b[kk * BN + tx + j * WG_X];
      [[unroll]] for (uint i = 0; i < TM; ++i) [[unroll]] for (uint j = 0; j < TN; ++j) acc[i][j] += av[i] * bv[j];
    }
    barrier();
  }

  [[unroll]] for (uint i = 0; i < TM; ++i) {
    const uint m = block_m + ty + i * WG_Y;
    if (m >= p.M) continue;
    [[unroll]] for (uint j = 0; j < TN; ++j) {
      const uint n = block_n + tx + j * WG_X;
      if (n < p.N) store(c_base, m, n, acc[i][j]);
    }
  }
}
