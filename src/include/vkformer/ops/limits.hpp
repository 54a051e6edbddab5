#pragma once
#include "vkformer/context.hpp"
#include "vkformer/ops/common.hpp"
#include "vkformer/sequence.hpp"

namespace vkformer {

// The two kernels that measure a device's ceilings (shaders/peak_fma.comp, shaders/copy.comp), which
// `vkformer bench ops` reports and the profile divides each dispatch's rate by.
constexpr uint32_t kPeakFmaChains = 8;  // CHAINS in peak_fma.comp

// out[i] for i < count: the sum of 8 vec4 chains of `iterations` fused multiply-adds (see the shader), in
// f32 or (`arithmetic` f16, peak_fma_f16) in f16 where the Context has float16() (an Error says why not).
void record_peak_fma(Sequence& sequence, Context& context, View out, uint32_t count, uint32_t iterations,
                     Element arithmetic = Element::f32, std::string_view label = "peak fma");
inline double peak_fma_flops(uint32_t count, uint32_t iterations) {
  return 2.0 * 4 * kPeakFmaChains * double(count) * iterations;
}

// out[0, 4 * vec4s) = in[0, 4 * vec4s), both views starting at a multiple of 4 elements.
void record_copy(Sequence& sequence, Context& context, View in, View out, uint32_t vec4s,
                 std::string_view label = "copy");

// Sizes that run each kernel well past dispatch overhead: small on CPU drivers, large on GPUs.
struct CeilingSizes {
  uint32_t fma_invocations, fma_iterations;
  uint64_t copy_bytes;  // a multiple of 16, within the device's storage-buffer range
};
CeilingSizes ceiling_sizes(const Context& context);

// The device's measured FMA rates and copy bandwidth (bytes read + written), each from the fastest of three
// dispatches; gflops_f16 is 0 where the device has no f16 arithmetic.
struct DeviceCeilings {
  double gflops = 0, gflops_f16 = 0, gbps = 0;
};
DeviceCeilings measure_ceilings(Context& context);

}  // namespace vkformer
