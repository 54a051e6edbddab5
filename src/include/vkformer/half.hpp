#pragma once
// IEEE binary16 <-> binary32 conversions on the host (model files store f16; --precision f16 uploads it).
#include <cstdint>
#include <cstring>

namespace vkformer {

inline float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff, bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: renormalise
      exponent = 127 - 15 + 1;
      while (!(mantissa & 0x400)) {
        mantissa <<= 1;
        --exponent;
      }
      bits = sign | (exponent << 23) | ((mantissa & 0x3ff) << 13);
    }
  } else if (exponent == 31) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float value;
  std::memcpy(&value, &bits, 4);
  return value;
}

// Rounds to nearest, ties to even; overflow gives infinity, NaN stays NaN.
inline uint16_t float_to_half(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  const auto sign = uint16_t((bits >> 16) & 0x8000);
  const uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude >= 0x7f800000u) return sign | 0x7c00 | (magnitude > 0x7f800000u ? 0x200 : 0);
  if (magnitude >= 0x477ff000u) return sign | 0x7c00;  // >= 65520 rounds past the largest half, 65504
  auto round = [](uint32_t kept, uint32_t dropped, uint32_t halfway) {
    return kept + ((dropped > halfway || (dropped == halfway && (kept & 1))) ? 1 : 0);
  };
  if (magnitude < 0x38800000u) {  // below 2^-14: a subnormal half (units of 2^-24) or zero
    if (magnitude < 0x33000000u) return sign;  // below 2^-25
    const uint32_t shift = 126 - (magnitude >> 23);
    const uint32_t mantissa = (magnitude & 0x7fffff) | 0x800000;
    return uint16_t(sign | round(mantissa >> shift, mantissa & ((1u << shift) - 1), 1u << (shift - 1)));
  }
  // A carry out of the mantissa correctly bumps the exponent.
  return uint16_t(sign | round((magnitude >> 13) - ((127u - 15u) << 10), magnitude & 0x1fff, 0x1000));
}

}  // namespace vkformer
