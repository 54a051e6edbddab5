#include "vkformer/ops/limits.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "vkformer/error.hpp"

namespace vkformer {

void record_peak_fma(Sequence& sequence, Context& context, View out, uint32_t count, uint32_t iterations,
                     Element arithmetic, std::string_view label) {
  if (out.buffer->bytes() < (uint64_t(out.offset) + count) * sizeof(float)) {
    throw Error(fmt::format("{}: output buffer too small", label));
  }
  if (arithmetic != Element::f32 && arithmetic != Element::f16) {
    throw Error(fmt::format("{}: the peak-FMA kernel computes in f32 or f16, not {}", label, element_name(arithmetic)));
  }
  const bool f16 = arithmetic == Element::f16;
  if (f16 && !context.float16()) {
    throw Error(fmt::format("{}: f16 arithmetic needs shaderFloat16 on Vulkan 1.2, which '{}' lacks", label,
                            context.info().name));
  }
  const uint32_t wg = context.tuning().reduce_wg;
  const Kernel& kernel = context.kernel({.shader = f16 ? "peak_fma_f16" : "peak_fma", .bindings = 1,
                                         .push_constant_bytes = 12, .specialization = {wg}});
  const std::array<uint32_t, 3> push{count, iterations, out.offset};
  sequence.dispatch(kernel, {out.buffer}, push, groups_for(count, wg), label,
                    {.flops = peak_fma_flops(count, iterations), .bytes = 4.0 * count});
}

void record_copy(Sequence& sequence, Context& context, View in, View out, uint32_t vec4s, std::string_view label) {
  if (in.offset % 4 || out.offset % 4) throw Error(fmt::format("{}: views must start at a multiple of 4", label));
  if (in.buffer->bytes() < in.offset * 4ull + vec4s * 16ull || out.buffer->bytes() < out.offset * 4ull + vec4s * 16ull) {
    throw Error(fmt::format("{}: buffer too small", label));
  }
  const uint32_t wg = context.tuning().reduce_wg;
  // At most 1024 workgroups (a full wave or more on any GPU), each invocation striding through the rest.
  const uint32_t groups = std::min<uint32_t>(ceil_div(vec4s, wg), 1024);
  if (!in.buffer->vec4_view()) throw Error(fmt::format("{}: the input has more texels than the device allows", label));
  const Kernel& kernel = context.kernel({.shader = "copy", .bindings = 2, .texel_bindings = 1, .push_constant_bytes = 16,
                                         .specialization = {wg}});
  const std::array<uint32_t, 4> push{vec4s, groups * wg, in.offset / 4, out.offset / 4};
  sequence.dispatch(kernel, {in.buffer, out.buffer}, push, {groups, 1, 1}, label, {.bytes = 32.0 * vec4s});
}

// CPU drivers: 64 steps per invocation read 60 GFLOP/s on lavapipe (2 cores) where 1024 read 80, the
// start of each invocation weighing on the short run; and matmuls ran at "103% of peak" against it.
CeilingSizes ceiling_sizes(const Context& context) {
  const bool cpu = context.info().type == vk::PhysicalDeviceType::eCpu;
  const uint64_t copy = std::min<uint64_t>(cpu ? 16u << 20 : 256u << 20, context.info().max_storage_buffer_range);
  return {.fma_invocations = cpu ? 8192u : 1u << 20, .fma_iterations = cpu ? 1024u : 4096u, .copy_bytes = copy & ~15ull};
}

DeviceCeilings measure_ceilings(Context& context) {
  const CeilingSizes sizes = ceiling_sizes(context);
  Buffer fma_out(context, uint64_t(sizes.fma_invocations) * sizeof(float), "ceilings.fma");
  Buffer in(context, sizes.copy_bytes, "ceilings.in"), out(context, sizes.copy_bytes, "ceilings.out");
  in.fill_zero();
  Sequence sequence(context, "device ceilings", true);
  if (!sequence.timestamps()) return {};
  constexpr int kRepeat = 3;
  const bool f16 = context.float16();
  sequence.begin();
  for (int i = 0; i < kRepeat; ++i) record_peak_fma(sequence, context, {&fma_out, 0}, sizes.fma_invocations, sizes.fma_iterations);
  for (int i = 0; i < kRepeat; ++i) record_copy(sequence, context, {&in, 0}, {&out, 0}, uint32_t(sizes.copy_bytes / 16));
  for (int i = 0; f16 && i < kRepeat; ++i) {
    record_peak_fma(sequence, context, {&fma_out, 0}, sizes.fma_invocations, sizes.fma_iterations, Element::f16);
  }
  sequence.end();
  context.submit_and_wait({sequence.command_buffer()});  // compiles the pipelines, touches the memory
  context.submit_and_wait({sequence.command_buffer()});
  auto times = sequence.dispatch_times_ms();
  const auto best = [&](size_t first) { return *std::min_element(times.begin() + first, times.begin() + first + kRepeat); };
  const double flops = peak_fma_flops(sizes.fma_invocations, sizes.fma_iterations);
  return {.gflops = flops / (best(0) * 1e6),
          .gflops_f16 = f16 ? flops / (best(2 * kRepeat) * 1e6) : 0.0,
          .gbps = 2.0 * sizes.copy_bytes / (best(kRepeat) * 1e6)};
}

}  // namespace vkformer
