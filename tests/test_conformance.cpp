// Runs every shader conformance case (fp64 CPU reference) under every tuning configuration the device
// takes (a cooperative-matrix tuning only where the device has them).
#include <fmt/format.h>

#include "test_context.hpp"
#include "vkformer/conformance/conformance.hpp"
#include "vkformer/tuning.hpp"

using namespace vkformer;

TEST_CASE("every shader matches its fp64 reference under every tuning", "[conformance]") {
  const auto cases = conformance::all_cases();
  REQUIRE(!cases.empty());
  const auto devices = describe_devices(Instance().handle());
  const DeviceInfo& device = devices.at(choose_device(devices, ""));
  for (const auto& tuning : tuning_table()) {
    if (tuning.cooperative_matrix && !tuning_misfits(tuning, device).empty()) continue;
    // One context at a time, destroyed before the next: drivers are not torn down with devices still open.
    Context context(ContextOptions{.tuning = tuning.name, .validation = true});
    for (const auto& test : cases) {
      const auto result = test.run(context);
      INFO(fmt::format("tuning {} op {} ({}) shape {}: max_abs {:.3g} max_rel {:.3g} nmse {:.3g} {}", tuning.name,
                       test.op, result.op, result.shape, result.comparison.max_abs, result.comparison.max_rel,
                       result.comparison.nmse, result.note));
      // Only the tensor-core cases skip, under a tuning without cooperative matrices, and the f16 peak on
      // devices without f16 arithmetic.
      CHECK(result.passed != result.skipped);
      CHECK(result.skipped == ((test.op == "matmul_coopmat" && !context.cooperative_matrix()) ||
                               (test.op == "peak_fma_f16" && !context.float16())));
      INFO("validation messages were printed to stderr");
      REQUIRE(context.validation_messages() == 0);
    }
  }
}
