#version 450
#extension GL_EXT_samplerless_texture_functions : require
// Matmul for few rows (a decoder step), B stored [N, K]. Workgroup (x, y) computes rows
// y * MAX_M .. + MAX_M of COLUMNS columns. K_SPLIT invocations share each output column, each summing
// a strided part of k, combined through shared memory: 1 on CPU drivers (no barriers, vec4 loads), a
// whole workgroup on GPUs (coalesced reads of B's rows).
// Built twice (cmake/Shaders.cmake): matmul_gemv, and matmul_gemv_lanes with LANES defined, where without
// k-splitting A_LANES lanes of a subgroup load A's texels in turn and hand them round by shuffles
// (Tuning::matmul_a_lanes): every invocation of a workgroup reads the same rows of A.
#extension GL_EXT_control_flow_attributes : enable
#ifdef LANES
#extension GL_KHR_shader_subgroup_shuffle : require
#endif
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 2) const uint K_SPLIT = 1;
// Rows per workgroup: a power of two. A specialization constant because CPU drivers run a masked-off
// row's loads and multiply-adds anyway.
layout(constant_id = 3) const uint MAX_M = 8;
#include "matmul_common.glsl"
#ifdef LANES
layout(constant_id = 9) const uint A_LANES = 1;
#endif

// Without k-splitting (CPU drivers) each invocation computes CPU_COLS adjacent columns, so one load of
// A's rows feeds CPU_COLS columns.
const uint CPU_COLS = 4;
const uint COLUMNS = K_SPLIT == 1 ? WG * CPU_COLS : WG / K_SPLIT;  // output columns per workgroup
const uint THREADS = WG;
#include "matmul_norm.glsl"
shared float partial[K_SPLIT > 1 ? WG * MAX_M : 1];

// This workgroup's first row, and how many of its MAX_M rows exist.
uint first_row() { return gl_WorkGroupID.y * MAX_M; }
uint row_count() { return min(MAX_M, p.M - first_row()); }

void gemv_columns() {
  const uint z = gl_WorkGroupID.z;
  const uint rows = row_count();
  const uint n0 = gl_WorkGroupID.x * COLUMNS + gl_LocalInvocationID.x * CPU_COLS;
#ifndef LANES
  if (n0 >= p.N) return;  // (with lanes, columns past N are computed for the shuffles and not stored)
#endif
  const uint a_base = p.a_offset + batch_base(z, p.a_outer, p.a_inner) + first_row() * p.lda;
  const uint b_base = p.b_offset + batch_base(z, p.b_outer, p.b_inner);
  const uint c_base = p.c_offset + batch_base(z, p.c_outer, p.c_inner) + first_row() * p.ldc;
  uint b_rows[CPU_COLS];
  [[unroll]] for (uint j = 0; j < CPU_COLS; ++j) b_rows[j] = b_base + min(n0 + j, p.N - 1) * p.ldb;

  float acc[MAX_M][CPU_COLS];
  [[unroll]] for (uint i = 0; i < MAX_M; ++i) [[unroll]] for (uint j = 0; j < CPU_COLS; ++j) acc[i][j] = 0.0;
  uint k = 0;
#ifdef LANES
  if (vec4_loads()) {
    // A_LANES texels of each row of A at a time, one loaded by each lane, each lane's handed to all.
    const uint lane = gl_SubgroupInvocationID % A_LANES, base = gl_SubgroupInvocationID - lane;
    const uint chunk_end = p.K / (4u * A_LANES) * (4u * A_LANES);
    for (; k < chunk_end; k += 4u * A_LANES) {
      vec4 mine[MAX_M];
      [[unroll]] for (uint i = 0; i < MAX_M; ++i) {
        if (i < rows) mine[i] = load_a4((a_base + i * p.lda + k) / 4u + lane);
      }
      // With B_PACKED (A_LANES even: the host's condition), lanes s and s + 1 take their texels of B from
      // one fetch, k being a multiple of 8.
      [[unroll]] for (uint s = 0; s < A_LANES; s += B_PACKED ? 2u : 1u) {
        vec4 bv[CPU_COLS], bv_next[CPU_COLS];
        [[unroll]] for (uint j = 0; j < CPU_COLS; ++j) {
          if (B_PACKED) {
            load_b8(((b_rows[j] + k) / 4u + s) / 2u, bv[j], bv_next[j]);
          } else {
            bv[j] = load_b4((b_rows[j] + k) / 4u + s);
          }
        }
        [[unroll]] for (uint i = 0; i < MAX_M; ++i) {
          if (i < rows) {
            const vec4 av = subgroupShuffle(mine[i], base + s);
            [[unroll]] for (uint j = 0; j < CPU_COLS; ++j) acc[i][j] += dot(av, bv[j]);
            if (B_PACKED) {
              const vec4 av_next = subgroupShuffle(mine[i], base + s + 1u);
              [[unroll]] for (uint j = 0; j < CPU_COLS; ++j) acc[i][j] += dot(av_next, bv_next[j]);
            }
          }
        }
      }
    }
  }
#endif
  if (B_PACKED && vec4_loads() && k % 8u == 0u) {
    // Two vec4 steps of k per fetch of B (b_rows[j] are multiples of 8).
    const uint k8_end = p.K & ~7u;
    for (; k < k8_end; k += 8) {
      vec4 bv[CPU_COLS], bv_next[CPU_COLS];
      [[unroll]] for (uint j = 0; j < CPU_COLS; ++j) load_b8((b_rows[j] + k) / 8u, bv[j], bv_next[j]);
      [[unroll]] for (uint i = 0; i < MAX_M; ++i) {
        if (i < rows) {
          const vec4 av = load_a4((a_base + i * p.lda + k) / 4u), av_next = load_a4((a_base + i * p.lda + k) / 4u + 1u);
          [[unroll]] for (uint j = 0; j < CPU_COLS; ++j) acc[i][j] += dot(av, bv[j]) + dot(av_next, bv_next[j]);
        }
      }
    }
  }
  if (vec4_loads()) {
    const uint k4_end = p.K & ~3u;
    for (; k < k4_end; k += 4) {
      vec4 bv[CPU_COLS];
      [[unroll]] for (uint j = 0; j < CPU_COLS; ++j) bv[j] = load_b4((b_rows[j] + k) / 4u);
      [[unroll]] for (uint i = 0; i < MAX_M; ++i) {
        if (i < rows) {
          const vec4 av = load_a4((a_base + i * p.lda + k) / 4u);
          [[unroll]] for (uint j = 0; j < CPU_COLS; ++j) acc[i][j] += dot(av, bv[j]);
        }
      }
    }
  }
  for (; k < p.K; ++k) {
    float bs[CPU_COLS];
    [[unroll]] for (uint j = 0; j < CPU_COLS; ++j) bs[j] = load_b(b_rows[j] + k);
    [[unroll]] for (uint i = 0; i < MAX_M; ++i) {
      if (i < rows) {
        const float av = a[a_base + i * p.lda + k];
        [[unroll]] for (uint j = 0; j < CPU_COLS; ++j) acc[i][j] += av * bs[j];
      }
    }
  }
  Column col[CPU_COLS];
  [[unroll]] for (uint j = 0; j < CPU_COLS; ++j) col[j] = column(min(n0 + j, p.N - 1));
  [[unroll]] for (uint i = 0; i < MAX_M; ++i) {
    [[unroll]] for (uint j = 0; j < CPU_COLS; ++j) {
      if (i < rows && n0 + j < p.N) store(c_base, i, n0 + j, acc[i][j], col[j]);
    }
  }
}

void multiply() {
  if (K_SPLIT == 1) {
    gemv_columns();
    return;
  }
  const uint z = gl_WorkGroupID.z;
  const uint rows = row_count();
  const uint lane = gl_LocalInvocationID.x % K_SPLIT;
  const uint n = gl_WorkGroupID.x * COLUMNS + gl_LocalInvocationID.x / K_SPLIT;
  const uint a_base = p.a_offset + batch_base(z, p.a_outer, p.a_inner) + first_row() * p.lda;
  const uint b_base = p.b_offset + batch_base(z, p.b_outer, p.b_inner);
  const uint c_base = p.c_offset + batch_base(z, p.c_outer, p.c_inner) + first_row() * p.ldc;
  const uint b_row = b_base + min(n, p.N - 1) * p.ldb;

  float acc[MAX_M];
  [[unroll]] for (uint i = 0; i < MAX_M; ++i) acc[i] = 0.0;
  uint k = lane;
  if (vec4_loads()) {
    // Each invocation takes 4 consecutive k (K is a multiple of 4 here), its neighbours the next 4:
    // 16-byte loads that together read whole rows of B, and a quarter of the loop trips. With B_PACKED,
    // 8 consecutive k up to the last multiple of 8: one 16-byte load of an f16 B (8 of i8).
    uint k4_begin = 0;
    if (B_PACKED) {
      k4_begin = p.K & ~7u;
      for (k = 8 * lane; k < k4_begin; k += 8 * K_SPLIT) {
        vec4 bv, bv_next;
        load_b8((b_row + k) / 8u, bv, bv_next);
        [[unroll]] for (uint i = 0; i < MAX_M; ++i) {
          const uint at = (a_base + i * p.lda + k) / 4u;
          if (i < rows) acc[i] += dot(load_a4(at), bv) + dot(load_a4(at + 1u), bv_next);
        }
      }
    }
    for (k = k4_begin + 4 * lane; k < p.K; k += 4 * K_SPLIT) {
      const vec4 bv = load_b4((b_row + k) / 4u);
      [[unroll]] for (uint i = 0; i < MAX_M; ++i) {
        if (i < rows) acc[i] += dot(load_a4((a_base + i * p.lda + k) / 4u), bv);
      }
    }
  }
  for (; k < p.K; k += K_SPLIT) {
    const float bv = load_b(b_row + k);
    [[unroll]] for (uint i = 0; i < MAX_M; ++i) {
      if (i < rows) acc[i] += a[a_base + i * p.lda + k] * bv;
    }
  }

  if (K_SPLIT > 1) {
    [[unroll]] for (uint i = 0; i < MAX_M; ++i) partial[i * WG + gl_LocalInvocationID.x] = acc[i];
    barrier();
    for (uint stride = K_SPLIT / 2; stride > 0; stride /= 2) {
      if (lane < stride) {
        [[unroll]] for (uint i = 0; i < MAX_M; ++i) {
          partial[i * WG + gl_LocalInvocationID.x] += partial[i * WG + gl_LocalInvocationID.x + stride];
        }
      }
      barrier();
    }
    if (lane != 0) return;
    [[unroll]] for (uint i = 0; i < MAX_M; ++i) acc[i] = partial[i * WG + gl_LocalInvocationID.x];
  }
  if (n >= p.N) return;
  const Column col = column(n);
  [[unroll]] for (uint i = 0; i < MAX_M; ++i) {
    if (i < rows) store(c_base, i, n, acc[i], col);
  }
}

void main() {
  multiply();
#ifdef NORM
  norm_epilogue(first_row(), MAX_M);
#endif
}
