#version 450
#extension GL_EXT_samplerless_texture_functions : require
// Register-blocked matmul without shared memory, for CPU drivers where every load instruction costs a
// scalar loop and barriers are expensive: each invocation computes a TM x TN block from vec4 loads.
// VEC4 (K, strides and offsets multiples of 4) is a specialization constant rather than a run-time flag
// so that each pipeline holds only one of the two unrolled loops: LLVM's compile time grows with them.
// Built twice (cmake/Shaders.cmake): matmul, and matmul_lanes with LANES defined, where invocations are
// placed by subgroup lane (a row block's A_LANES invocations consecutive in one subgroup) and share the
// block's A loads through shuffles (Tuning::matmul_a_lanes).
#extension GL_EXT_control_flow_attributes : enable
#ifdef LANES
#extension GL_KHR_shader_subgroup_shuffle : require
#endif
layout(local_size_x_id = 0, local_size_y_id = 2) in;
layout(constant_id = 0) const uint WG_X = 8;
layout(constant_id = 2) const uint WG_Y = 8;
layout(constant_id = 3) const uint TM = 4;
layout(constant_id = 4) const uint TN = 4;
layout(constant_id = 6) const bool VEC4 = false;
#include "matmul_common.glsl"
#ifdef LANES
layout(constant_id = 9) const uint A_LANES = 1;
#endif

const uint THREADS = WG_X * WG_Y;
#include "matmul_norm.glsl"

void multiply() {
  const uint z = gl_GlobalInvocationID.z;
#ifdef LANES
  const uint local = gl_SubgroupID * gl_SubgroupSize + gl_SubgroupInvocationID;
  const uint n0 = (gl_WorkGroupID.x * WG_X + local % WG_X) * TN;
  const uint m0 = (gl_WorkGroupID.y * WG_Y + local / WG_X) * TM;
  const uint group_lane = gl_SubgroupInvocationID % A_LANES, group_base = gl_SubgroupInvocationID - group_lane;
  if (m0 >= p.M) return;
#else
  const uint n0 = gl_GlobalInvocationID.x * TN;
  const uint m0 = gl_GlobalInvocationID.y * TM;
  if (n0 >= p.N || m0 >= p.M) return;
#endif
  const uint a_base = p.a_offset + batch_base(z, p.a_outer, p.a_inner);
  const uint b_base = p.b_offset + batch_base(z, p.b_outer, p.b_inner);
  const uint c_base = p.c_offset + batch_base(z, p.c_outer, p.c_inner);

  // Out-of-range rows and columns read the last valid one (always in bounds) and are never stored.
  uint rows[TM];
  uint cols[TN];
  [[unroll]] for (uint i = 0; i < TM; ++i) rows[i] = a_base + min(m0 + i, p.M - 1) * p.lda;
  [[unroll]] for (uint j = 0; j < TN; ++j) cols[j] = min(n0 + j, p.N - 1);

  float acc[TM][TN];
  [[unroll]] for (uint i = 0; i < TM; ++i) [[unroll]] for (uint j = 0; j < TN; ++j) acc[i][j] = 0.0;

  if (VEC4 && B_TRANSPOSED) {
    // Both operands are contiguous along k: TM + TN vec4 loads feed TM * TN * 4 multiply-adds.
    uint a_rows[TM];
    uint b_rows[TN];
    [[unroll]] for (uint i = 0; i < TM; ++i) a_rows[i] = rows[i] / 4u;
    [[unroll]] for (uint j = 0; j < TN; ++j) b_rows[j] = (b_base + cols[j] * p.ldb) / 4u;
    // Two vec4 steps of k per iteration: llvmpipe pays a masked store (a blend) of every accumulator and
    // the loop's mask bookkeeping per iteration, so 8 multiply-adds per accumulator instead of 4 ran its
    // matmuls 20-35% faster (docs/BENCHMARKS.md); 3 or 4 steps were no faster.
    const uint k4_end = p.K / 4u;
    uint k4 = 0;
#ifdef LANES
    // The A_LANES invocations of a row block each load R of its TM rows and take the others from each
    // other by shuffles: llvmpipe gathers every texel fetch, and the block's lanes fetched the same rows.
    const uint R = TM / A_LANES;
    uint my_rows[R];
    [[unroll]] for (uint r = 0; r < R; ++r) my_rows[r] = (a_base + min(m0 + group_lane * R + r, p.M - 1) * p.lda) / 4u;
#endif
    for (; k4 + 2u <= k4_end; k4 += 2u) {
      vec4 av[TM], av_next[TM];
#ifdef LANES
      vec4 mine[R], mine_next[R];
      [[unroll]] for (uint r = 0; r < R; ++r) {
        mine[r] = load_a4(my_rows[r] + k4);
        mine_next[r] = load_a4(my_rows[r] + k4 + 1u);
      }
      [[unroll]] for (uint i = 0; i < TM; ++i) {
        av[i] = subgroupShuffle(mine[i % R], group_base + i / R);
        av_next[i] = subgroupShuffle(mine_next[i % R], group_base + i / R);
      }
#else
      [[unroll]] for (uint i = 0; i < TM; ++i) {
        av[i] = load_a4(a_rows[i] + k4);
        av_next[i] = load_a4(a_rows[i] + k4 + 1u);
      }
#endif
      [[unroll]] for (uint j = 0; j < TN; ++j) {
        vec4 bv, bv_next;
        if (B_PACKED) {
          load_b8((b_rows[j] + k4) / 2u, bv, bv_next);  // b_rows[j] and k4 are even
        } else {
          bv = load_b4(b_rows[j] + k4);
          bv_next = load_b4(b_rows[j] + k4 + 1u);
        }
        [[unroll]] for (uint i = 0; i < TM; ++i) acc[i][j] += dot(av[i], bv) + dot(av_next[i], bv_next);
      }
    }
    if (k4 < k4_end) {  // odd K / 4
      [[unroll]] for (uint j = 0; j < TN; ++j) {
        const vec4 bv = load_b4(b_rows[j] + k4);
        [[unroll]] for (uint i = 0; i < TM; ++i) acc[i][j] += dot(load_a4(a_rows[i] + k4), bv);
      }
    }
  } else {
    uint k = 0;
    if (VEC4 && n0 + TN <= p.N && TN % 4 == 0) {
      // B is contiguous along n: one vec4 of A per row and TN/4 vec4 of B per k.
      for (; k < p.K; k += 4) {
        vec4 av[TM];
        [[unroll]] for (uint i = 0; i < TM; ++i) av[i] = load_a4((rows[i] + k) / 4u);
        [[unroll]] for (uint kk = 0; kk < 4; ++kk) {
          [[unroll]] for (uint j = 0; j < TN; j += 4) {
            const vec4 bv = load_b4((b_base + (k + kk) * p.ldb + n0 + j) / 4u);
            [[unroll]] for (uint i = 0; i < TM; ++i) {
              acc[i][j] += av[i][kk] * bv.x;
              acc[i][j + 1] += av[i][kk] * bv.y;
              acc[i][j + 2] += av[i][kk] * bv.z;
              acc[i][j + 3] += av[i][kk] * bv.w;
            }
          }
        }
      }
    }
    for (; k < p.K; ++k) {
      float bs[TN];
      [[unroll]] for (uint j = 0; j < TN; ++j) bs[j] = load_b(b_index(b_base, k, cols[j]));
      [[unroll]] for (uint i = 0; i < TM; ++i) {
        const float av = a[rows[i] + k];
        [[unroll]] for (uint j = 0; j < TN; ++j) acc[i][j] += av * bs[j];
      }
    }
  }

  Column col[TN];
  [[unroll]] for (uint j = 0; j < TN; ++j) col[j] = column(cols[j]);
  [[unroll]] for (uint i = 0; i < TM; ++i) {
    if (m0 + i >= p.M) break;
    [[unroll]] for (uint j = 0; j < TN; ++j) {
      if (n0 + j < p.N) store(c_base, m0 + i, n0 + j, acc[i][j], col[j]);
    }
  }
}

void main() {
  multiply();
#ifdef NORM
  norm_epilogue(gl_WorkGroupID.y * WG_Y * TM, WG_Y * TM);
#endif
}
