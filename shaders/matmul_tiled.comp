#version 450
#extension GL_EXT_samplerless_texture_functions : require
// Shared-memory tiled matmul with register blocking, for GPUs. A workgroup owns a BM x BN block of C
// (BM = WG_Y*TM, BN = WG_X*TN); per TILE_K slice of k it stages A's rows and B's columns in shared
// memory, k-major, and each invocation accumulates TM x TN outputs: rows in groups of 4 (row group
// ty + r*WG_Y), columns likewise, so every shared read is one vec4. The next slice is loaded from memory
// into registers while the current one is multiplied. Global loads take 4 consecutive k (or n) at a time,
// one vec4 where aligned (flags bit 1), and are bounds-checked (zero fill), so any M, N, K works.
#extension GL_EXT_control_flow_attributes : enable
layout(local_size_x_id = 0, local_size_y_id = 2) in;
layout(constant_id = 0) const uint WG_X = 8;
layout(constant_id = 2) const uint WG_Y = 8;
layout(constant_id = 3) const uint TM = 4;       // multiple of 4
layout(constant_id = 4) const uint TN = 4;       // multiple of 4
layout(constant_id = 5) const uint TILE_K = 16;  // multiple of 4
#include "matmul_common.glsl"

const uint BM = WG_Y * TM;
const uint BN = WG_X * TN;
const uint THREADS = WG_X * WG_Y;
// Rows of the shared tiles are padded by one vec4, so the transposing stores of consecutive
// invocations (consecutive m, k four apart) fall on different banks.
const uint A_STRIDE = BM / 4 + 1;  // vec4 per k row
const uint B_STRIDE = BN / 4 + 1;
shared vec4 tile_a[TILE_K * A_STRIDE];  // [k][m / 4]
shared vec4 tile_b[TILE_K * B_STRIDE];  // [k][n / 4]
// Groups of 4 elements each invocation loads per slice.
const uint A_LOADS = (TILE_K * BM / 4 + THREADS - 1) / THREADS;
const uint B_LOADS = (TILE_K * BN / 4 + THREADS - 1) / THREADS;
#include "matmul_norm.glsl"

// A[m, k..k+3] (zeros outside).
vec4 load_a_group(uint base, uint m, uint k) {
  if (m >= p.M || k >= p.K) return vec4(0.0);
  const uint at = base + m * p.lda + k;
  if (vec4_loads() && k + 3 < p.K) return load_a4(at / 4u);
  vec4 v = vec4(0.0);
  [[unroll]] for (uint j = 0; j < 4; ++j) if (k + j < p.K) v[j] = a[at + j];
  return v;
}

// Four consecutive elements of B's storage: B[n, k..k+3] when B_TRANSPOSED, else B[k, n..n+3].
vec4 load_b_group(uint base, uint row, uint col, uint rows, uint cols) {
  if (row >= rows || col >= cols) return vec4(0.0);
  const uint at = base + row * p.ldb + col;
  if (vec4_loads() && col + 3 < cols) return load_b4(at / 4u);
  vec4 v = vec4(0.0);
  [[unroll]] for (uint j = 0; j < 4; ++j) if (col + j < cols) v[j] = load_b(at + j);
  return v;
}

// Invocation `thread`'s share of the slice at k0: A's group g = (m, k4) = (g / (TILE_K/4), g % (TILE_K/4)),
// B's likewise, or (k, n4) = (g / (BN/4), g % (BN/4)) when B is stored [K, N].
void load_slice(uint k0, uint thread, uint a_base, uint b_base, uint block_m, uint block_n, out vec4 next_a[A_LOADS],
                out vec4 next_b[B_LOADS]) {
  const uint k_groups = TILE_K / 4;
  [[unroll]] for (uint s = 0; s < A_LOADS; ++s) {
    const uint g = thread + s * THREADS;
    next_a[s] = g < TILE_K * BM / 4 ? load_a_group(a_base, block_m + g / k_groups, k0 + 4 * (g % k_groups)) : vec4(0.0);
  }
  [[unroll]] for (uint s = 0; s < B_LOADS; ++s) {
    const uint g = thread + s * THREADS;
    if (g >= TILE_K * BN / 4) {
      next_b[s] = vec4(0.0);
    } else if (B_TRANSPOSED) {
      next_b[s] = load_b_group(b_base, block_n + g / k_groups, k0 + 4 * (g % k_groups), p.N, p.K);
    } else {
      next_b[s] = load_b_group(b_base, k0 + g / (BN / 4), block_n + 4 * (g % (BN / 4)), p.K, p.N);
    }
  }
}

void multiply() {
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

  const uint k_groups = TILE_K / 4;
  vec4 next_a[A_LOADS], next_b[B_LOADS];
  load_slice(0, thread, a_base, b_base, block_m, block_n, next_a, next_b);
  for (uint k0 = 0; k0 < p.K; k0 += TILE_K) {
    [[unroll]] for (uint s = 0; s < A_LOADS; ++s) {
      const uint g = thread + s * THREADS;
      if (g >= TILE_K * BM / 4) continue;
      const uint m = g / k_groups, k = 4 * (g % k_groups);
      [[unroll]] for (uint j = 0; j < 4; ++j) tile_a[(k + j) * A_STRIDE + m / 4][m % 4] = next_a[s][j];
    }
    [[unroll]] for (uint s = 0; s < B_LOADS; ++s) {
      const uint g = thread + s * THREADS;
      if (g >= TILE_K * BN / 4) continue;
      if (B_TRANSPOSED) {
        const uint n = g / k_groups, k = 4 * (g % k_groups);
        [[unroll]] for (uint j = 0; j < 4; ++j) tile_b[(k + j) * B_STRIDE + n / 4][n % 4] = next_b[s][j];
      } else {
        tile_b[(g / (BN / 4)) * B_STRIDE + g % (BN / 4)] = next_b[s];
      }
    }
    barrier();
    if (k0 + TILE_K < p.K) load_slice(k0 + TILE_K, thread, a_base, b_base, block_m, block_n, next_a, next_b);
    [[unroll]] for (uint kk = 0; kk < TILE_K; ++kk) {
      vec4 av[TM / 4], bv[TN / 4];
      [[unroll]] for (uint r = 0; r < TM / 4; ++r) av[r] = tile_a[kk * A_STRIDE + ty + r * WG_Y];
      [[unroll]] for (uint r = 0; r < TN / 4; ++r) bv[r] = tile_b[kk * B_STRIDE + tx + r * WG_X];
      [[unroll]] for (uint i = 0; i < TM; ++i) {
        [[unroll]] for (uint j = 0; j < TN; ++j) acc[i][j] += av[i / 4][i % 4] * bv[j / 4][j % 4];
      }
    }
    barrier();
  }

  uint ns[TN];
  Column col[TN];
  [[unroll]] for (uint j = 0; j < TN; ++j) {
    ns[j] = block_n + (tx + (j / 4) * WG_X) * 4 + j % 4;
    col[j] = column(min(ns[j], p.N - 1));
  }
  [[unroll]] for (uint i = 0; i < TM; ++i) {
    const uint m = block_m + (ty + (i / 4) * WG_Y) * 4 + i % 4;
    if (m >= p.M) continue;
    [[unroll]] for (uint j = 0; j < TN; ++j) {
      if (ns[j] < p.N) store(c_base, m, ns[j], acc[i][j], col[j]);
    }
  }
}

void main() {
  multiply();
#ifdef NORM
  norm_epilogue(gl_WorkGroupID.y * BM, BM);
#endif
}
