#version 450
#extension GL_EXT_samplerless_texture_functions : require
// Per row: the k largest values (k <= 16) with their ids, sorted by value descending, ties to the lower
// id, never the `banned` id (0xFFFFFFFF bans nothing). With `log_softmax`, the values written are
// value - logsumexp(row), the logsumexp over every column including the banned one unless banned_in_sum
// is 0 (then as if its value were -inf). Slots without a
// candidate get id 0xFFFFFFFF and value -FLT_MAX; every slot of a row holding a NaN or infinity (in any
// column) gets id 0xFFFFFFFE and value -FLT_MAX, so a numerical blow-up is seen. One workgroup per row:
// each invocation keeps a sorted top-k of its strided columns, then k rounds of a workgroup (value, id)
// max pick the winners; shared memory stays at WG entries whatever k is. With VEC4 (any columns and
// offset) the row is read through a vec4 texel view, four columns per load (CPU drivers gather texel
// loads as vectors).
layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const bool VEC4 = false;
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(binding = 3) uniform textureBuffer x4;
layout(std430, binding = 1) writeonly buffer Ids { uint ids[]; };
layout(std430, binding = 2) writeonly buffer Values { float values[]; };
layout(push_constant) uniform Push {
  uint rows;
  uint cols;
  uint k;
  uint x_offset;
  uint ids_offset;
  uint values_offset;
  uint log_softmax;
  uint banned;
  uint banned_in_sum;
} p;

const uint MAX_K = 16u;
const uint kNone = 0xFFFFFFFFu;
const uint kNonFinite = 0xFFFFFFFEu;
// Exponent bits, all set only in NaN and infinities: tested as integers, since without
// SignedZeroInfNanPreserve a driver may assume floats are finite and fold isnan/isinf away.
const uint kExponent = 0x7F800000u;
const float kLowest = -3.402823466e38;  // finite stand-in for -inf (see softmax.comp)

shared float shared_value[WG];
shared uint shared_id[WG];
shared float shared_sum[WG];

// (value, id) beats (best, best_i): larger value, or equal value and lower id; kNone never wins.
bool better(float value, uint id, float best, uint best_i) {
  return id != kNone && (best_i == kNone || value > best || (value == best && id < best_i));
}

void main() {
  const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (row >= p.rows) return;  // uniform per workgroup
  const uint tid = gl_LocalInvocationID.x;
  const uint base = p.x_offset + row * p.cols;

  // This invocation's candidates, best first; columns come in increasing order, so an equal value goes
  // after those already held (lower ids first).
  float top_value[MAX_K];
  uint top_id[MAX_K];
  uint held = 0u;
  float m = kLowest, s = 0.0;  // online logsumexp over all columns
  float floor_value = kLowest;  // once `held` is k: the k-th value, which a column must beat to enter
  uvec4 exponents = uvec4(0u);  // the largest exponent field seen
  // With VEC4 the invocations stride over the texels that cover the row: it may start and end inside
  // one (any column count and offset), and the components outside the row count for nothing.
  const uint width = VEC4 ? 4u : 1u;
  const uvec4 lanes = uvec4(0u, 1u, 2u, 3u);
  const uint first = base / width, end = (base + p.cols + width - 1u) / width;
  for (uint t = first + tid; t < end; t += WG) {
    const vec4 loaded = VEC4 ? texelFetch(x4, int(t)) : vec4(x[t]);
    const uvec4 columns = uvec4(t * width) + lanes - uvec4(base);  // before the row: wraps past p.cols
    const bvec4 in_row = VEC4 ? lessThan(columns, uvec4(p.cols)) : bvec4(true, false, false, false);
    exponents = max(exponents, (floatBitsToUint(loaded) & kExponent) * uvec4(in_row));
    // The logsumexp takes the texel at once, without branches (CPU drivers run both sides of a
    // per-column branch): columns outside the row and a banned one left out of the sum weigh 0.
    const vec4 weight = vec4(in_row) * vec4(notEqual(columns, uvec4(p.banned_in_sum == 0u ? p.banned : kNone)));
    const vec4 kept = mix(vec4(kLowest), loaded, greaterThan(weight, vec4(0.0)));
    const float m_next = max(m, max(max(kept.x, kept.y), max(kept.z, kept.w)));
    s = s * exp(m - m_next) + dot(weight, exp(kept - m_next));
    m = m_next;
    // Once the top-k is full, a texel with no value above its floor is passed over as a whole.
    const vec4 offered = mix(vec4(kLowest), loaded, in_row);
    if (held == p.k && !(max(max(offered.x, offered.y), max(offered.z, offered.w)) > floor_value)) continue;
    for (uint j = 0u; j < width; ++j) {
      const uint c = columns[j];
      const float v = loaded[j];
      if (!in_row[j] || c == p.banned || (held == p.k && !(v > top_value[p.k - 1u]))) continue;
      uint i = min(held, p.k - 1u);  // the last slot is dropped when full
      while (i > 0u && v > top_value[i - 1u]) {
        top_value[i] = top_value[i - 1u];
        top_id[i] = top_id[i - 1u];
        --i;
      }
      top_value[i] = v;
      top_id[i] = c;
      held = min(held + 1u, p.k);
    }
    if (held == p.k) floor_value = top_value[p.k - 1u];
  }

  // logsumexp of the row, and in shared_id whether any invocation saw a non-finite value.
  shared_value[tid] = m;
  shared_sum[tid] = s;
  shared_id[tid] = any(equal(exponents, uvec4(kExponent))) ? 1u : 0u;
  barrier();
  for (uint n = WG; n > 1u;) {  // tree reduction, fine for sizes that are not powers of two
    const uint half_n = (n + 1u) / 2u;
    if (tid < n - half_n) {
      const float m1 = shared_value[tid], m2 = shared_value[tid + half_n];
      const float mm = max(m1, m2);
      shared_sum[tid] = shared_sum[tid] * exp(m1 - mm) + shared_sum[tid + half_n] * exp(m2 - mm);
      shared_value[tid] = mm;
      shared_id[tid] = max(shared_id[tid], shared_id[tid + half_n]);
    }
    barrier();
    n = half_n;
  }
  const float lse = p.log_softmax != 0u ? shared_value[0] + log(shared_sum[0]) : 0.0;
  const bool non_finite = shared_id[0] != 0u;
  barrier();  // shared memory is reused below

  // k rounds: every invocation offers its best remaining candidate; the winner's owner moves past it.
  uint next = 0u;
  for (uint r = 0u; r < p.k; ++r) {
    shared_value[tid] = next < held ? top_value[next] : kLowest;
    shared_id[tid] = next < held ? top_id[next] : kNone;
    barrier();
    for (uint n = WG; n > 1u;) {
      const uint half_n = (n + 1u) / 2u;
      if (tid < n - half_n &&
          better(shared_value[tid + half_n], shared_id[tid + half_n], shared_value[tid], shared_id[tid])) {
        shared_value[tid] = shared_value[tid + half_n];
        shared_id[tid] = shared_id[tid + half_n];
      }
      barrier();
      n = half_n;
    }
    const uint winner = shared_id[0];
    const float value = shared_value[0];
    if (tid == 0u) {
      ids[p.ids_offset + row * p.k + r] = non_finite ? kNonFinite : winner;
      values[p.values_offset + row * p.k + r] = non_finite || winner == kNone ? kLowest : value - lse;
    }
    if (winner != kNone && next < held && top_id[next] == winner) ++next;  // ids are unique in a row
    barrier();  // before the next round overwrites shared memory
  }
}
