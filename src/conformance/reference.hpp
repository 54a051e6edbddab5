#pragma once
// fp64 CPU references, written from the textbook definitions and independent of the shaders.
#include <cmath>
#include <cstdint>

namespace vkformer::conformance {

inline double activate_reference(double x, uint32_t activation) {
  switch (activation) {
    case 1: return x > 0 ? x : 0;
    case 2: return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    case 3: return x / (1.0 + std::exp(-x));
    default: return x;
  }
}

}  // namespace vkformer::conformance
