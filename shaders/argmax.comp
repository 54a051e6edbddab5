#version 450
#extension GL_EXT_samplerless_texture_functions : require
// Per row: the index of the largest value (the first on ties, like torch.argmax), skipping the `banned`
// column (Marian never generates pad; 0xFFFFFFFF bans nothing). Writes the id and optionally the value;
// a row with no candidate gives id 0xFFFFFFFF and value -FLT_MAX, a row holding a NaN or infinity (in any
// column) id 0xFFFFFFFE and value -FLT_MAX, so a numerical blow-up is seen, not decoded. One workgroup per
// row. With VEC4 (columns and offset multiples of 4) the row is read through a vec4 texel view, four
// columns per load.
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
  uint x_offset;
  uint ids_offset;
  uint values_offset;
  uint write_values;
  uint banned;
} p;

const uint kNone = 0xFFFFFFFFu;
const uint kNonFinite = 0xFFFFFFFEu;
// Exponent bits, all set only in NaN and infinities: tested as integers, since without
// SignedZeroInfNanPreserve a driver may assume floats are finite and fold isnan/isinf away.
const uint kExponent = 0x7F800000u;
const float kLowest = -3.402823466e38;

shared float best_value[WG];
shared uint best_id[WG];

// (value, id) beats (best, best_i): larger value, or equal value and lower id; kNone never wins and
// kNonFinite always does, so a non-finite value anywhere in the row decides the result.
bool better(float value, uint id, float best, uint best_i) {
  if (best_i == kNonFinite) return false;
  return id == kNonFinite || (id != kNone && (best_i == kNone || value > best || (value == best && id < best_i)));
}

void main() {
  const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (row >= p.rows) return;  // uniform per workgroup
  const uint tid = gl_LocalInvocationID.x;
  const uint base = p.x_offset + row * p.cols;

  // Columns are visited in increasing order, so a strict > keeps the first of equal values.
  float value = kLowest;
  uint id = kNone;
  uvec4 exponents = uvec4(0u);  // the largest exponent field seen
  const uint width = VEC4 ? 4u : 1u;
  for (uint group = tid; group < p.cols / width; group += WG) {
    const vec4 loaded = VEC4 ? texelFetch(x4, int(base / 4u + group)) : vec4(x[base + group]);
    exponents = max(exponents, floatBitsToUint(loaded) & kExponent);
    for (uint j = 0u; j < width; ++j) {
      const uint k = group * width + j;
      if (k != p.banned && (id == kNone || loaded[j] > value)) {
        value = loaded[j];
        id = k;
      }
    }
  }
  best_value[tid] = value;
  best_id[tid] = any(equal(exponents, uvec4(kExponent))) ? kNonFinite : id;
  barrier();
  // Tree reduction that also works for workgroup sizes that are not powers of two.
  for (uint n = WG; n > 1u;) {
    const uint half_n = (n + 1u) / 2u;
    if (tid < n - half_n && better(best_value[tid + half_n], best_id[tid + half_n], best_value[tid], best_id[tid])) {
      best_value[tid] = best_value[tid + half_n];
      best_id[tid] = best_id[tid + half_n];
    }
    barrier();
    n = half_n;
  }
  if (tid == 0u) {
    ids[p.ids_offset + row] = best_id[0];
    if (p.write_values != 0u) values[p.values_offset + row] = best_id[0] >= kNonFinite ? kLowest : best_value[0];
  }
}
