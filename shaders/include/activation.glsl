// Activation codes shared by every shader that applies one (keep in sync with ops/activation.hpp).
#define ACT_NONE 0u
#define ACT_RELU 1u
#define ACT_GELU 2u
#define ACT_SWISH 3u

// erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): GLSL has no erf, and exact GELU needs one.
float erf_approx(float x) {
  float t = 1.0 / (1.0 + 0.3275911 * abs(x));
  float y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-x * x);
  return sign(x) * y;
}

float activate(float x, uint kind) {
  if (kind == ACT_RELU) return max(x, 0.0);
  if (kind == ACT_GELU) return 0.5 * x * (1.0 + erf_approx(x * 0.70710678118654752));
  if (kind == ACT_SWISH) return x / (1.0 + exp(-x));
  return x;
}
