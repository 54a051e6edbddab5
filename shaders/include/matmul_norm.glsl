// The residual add and LayerNorm of a sublayer in its output projection (built with -DNORM; the kernel
// runs with ACCUMULATE): C = x + A.B + bias, then normed = LayerNorm(C) per row, where normed is x itself
// (post-norm, Marian) or the next sublayer's input (pre-norm: x keeps the sum). A row's columns come
// from several workgroups, so each workgroup counts itself done on its row block's counter after its
// stores, and the last one to arrive normalizes the block's rows (the "last block" pattern of
// single-pass reductions): no workgroup ever waits for another, so it needs no forward-progress
// guarantee. The last one also resets the counter for the next dispatch.
// Include after the kernel's constants: THREADS (invocations per workgroup) must be defined.
#ifdef NORM
layout(std430, binding = 8) coherent buffer Counters { uint counters[]; };
layout(std430, binding = 9) readonly buffer Gamma { float gamma[]; };
layout(std430, binding = 10) readonly buffer Beta { float beta[]; };
layout(std430, binding = 11) writeonly buffer Normed { float normed[]; };

shared float norm_partial[THREADS];
shared bool norm_last;

// Sum over each group of `lanes` consecutive invocations (a power of two), returned to all of them.
float group_sum(float mine, uint tid, uint lanes) {
  norm_partial[tid] = mine;
  barrier();
  for (uint stride = lanes / 2u; stride > 0u; stride /= 2u) {
    if (tid % lanes < stride) norm_partial[tid] += norm_partial[tid + stride];
    barrier();
  }
  const float total = norm_partial[tid - tid % lanes];
  barrier();
  return total;
}

// Called by every invocation of the workgroup after its stores; rows row0 .. row0 + block_rows of C
// (those below M) form this workgroup's row block, gl_WorkGroupID.y its counter.
void norm_epilogue(uint row0, uint block_rows) {
  const uint tid = gl_LocalInvocationIndex;
  memoryBarrierBuffer();  // this workgroup's columns of C, before it counts itself done
  barrier();
  if (tid == 0u) {
    const uint counter = p.counter_offset + gl_WorkGroupID.y;
    norm_last = atomicAdd(counters[counter], 1u) == gl_NumWorkGroups.x - 1u;
    if (norm_last) counters[counter] = 0u;
  }
  barrier();
  if (!norm_last) return;  // uniform: one shared value
  memoryBarrierBuffer();

  // Two passes as in layer_norm.comp (mean, then the variance around it), on v - v[0]. Each row gets
  // `lanes` invocations (a power of two); rows beyond THREADS / lanes take further rounds.
  const uint rows = min(block_rows, p.M - row0);
  uint lanes = 1u;
  while (lanes * 2u * rows <= THREADS) lanes *= 2u;
  const uint groups = THREADS / lanes;
  const uint lane = tid % lanes;
  for (uint round = 0u; round < rows; round += groups) {
    const uint r = round + tid / lanes;
    const bool working = tid / lanes < groups && r < rows;
    const uint base = p.c_offset + (row0 + min(r, rows - 1u)) * p.ldc;
    const float shift = residual[base];
    float sum = 0.0;
    if (working) {
      for (uint k = lane; k < p.N; k += lanes) sum += residual[base + k] - shift;
    }
    const float mean = group_sum(sum, tid, lanes) / float(p.N);
    float squares = 0.0;
    if (working) {
      for (uint k = lane; k < p.N; k += lanes) {
        const float d = residual[base + k] - shift - mean;
        squares += d * d;
      }
    }
    const float inv_std = inversesqrt(group_sum(squares, tid, lanes) / float(p.N) + p.eps);
    if (working) {
      const uint out_base = p.normed_offset + (row0 + r) * p.ldc;
      for (uint k = lane; k < p.N; k += lanes) {
        normed[out_base + k] = (residual[base + k] - shift - mean) * inv_std * gamma[p.gamma_offset + k] +
                               beta[p.beta_offset + k];
      }
    }
  }
}
#endif
