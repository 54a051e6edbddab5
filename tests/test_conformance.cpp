// Runs every shader conformance case (fp64 CPU reference) under every tuning configuration.
#include <fmt/format.h>

#include "test_context.hpp"
#include "vkformer/conformance/conformance.hpp"
#include "vkformer/tuning.hpp"

using namespace vkformer;

TEST_CASE("every shader matches its fp64 reference under every tuning", "[conformance]") {
  const auto cases = conformance::all_cases();
  REQUIRE(!cases.empty());
  for (const auto& tuning : tuning_table()) {
    // One context at a time, destroyed before the next: drivers are not torn down with devices still open.
    Context context(ContextOptions{.tuning = tuning.name, .validation = true});
    for (const auto& test : cases) {
      const auto result = test.run(context);
      INFO(fmt::format("tuning {} op {} ({}) shape {}: max_abs {:.3g} max_rel {:.3g} nmse {:.3g} {}", tuning.name,
                       test.op, result.op, result.shape, result.comparison.max_abs, result.comparison.max_rel,
                       result.comparison.nmse, result.note));
      CHECK(result.passed);
      INFO("validation messages were printed to stderr");
      REQUIRE(context.validation_messages() == 0);
    }
  }
}
