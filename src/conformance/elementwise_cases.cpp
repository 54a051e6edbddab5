#include <fmt/format.h>

#include "cases.hpp"
#include "check.hpp"
#include "reference.hpp"
#include "vkformer/ops/elementwise.hpp"

namespace vkformer::conformance {

// One fp32 rounding of the sum and the erf approximation's 1.5e-7: 1e-6 is ample.
static constexpr Tolerance kTolerance{.max_rel = 1e-6, .nmse = 1e-12};

static Result run_elementwise(Context& context, uint32_t count, bool add, Activation activation, float scale) {
  const auto a = random_values(count, 1 + count, scale);
  const auto b = random_values(count, 2 + count, scale);
  std::vector<double> expected(count);
  for (uint32_t i = 0; i < count; ++i) {
    expected[i] = activate_reference(double(a[i]) + (add ? double(b[i]) : 0.0), uint32_t(activation));
  }
  Buffer a_buffer = guarded_buffer(context, a, "a");
  Buffer b_buffer = guarded_buffer(context, b, "b");
  Buffer out = guarded_output(context, count, "out");
  Sequence sequence(context, "conformance elementwise", true);
  run_once(context, sequence, [&](Sequence& s) {
    record_elementwise(s, context, {&a_buffer, kGuard}, add ? View{&b_buffer, kGuard} : View{}, {&out, kGuard}, count,
                       activation);
  });
  static const char* names[] = {"copy", "relu", "gelu", "swish"};
  return finish(add ? fmt::format("add+{}", names[uint32_t(activation)]) : names[uint32_t(activation)],
                fmt::format("{} x{:g}", count, scale), compare_guarded(out, expected), kTolerance, sequence);
}

std::vector<Case> elementwise_cases() {
  std::vector<Case> cases;
  for (uint32_t count : {1u, 7u, 1000u, 65537u}) {
    for (uint32_t act = 0; act < 4; ++act) {
      for (bool add : {false, true}) {
        if (!add && act == 0) continue;
        for (float scale : {1.0f, 30.0f}) {
          const auto activation = Activation(act);
          cases.push_back({"elementwise", fmt::format("{}", count), [=](Context& context) {
                             return run_elementwise(context, count, add, activation, scale);
                           }});
        }
      }
    }
  }
  return cases;
}

}  // namespace vkformer::conformance
