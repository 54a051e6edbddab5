// Profiles add up: per-layer GPU times against each submit's whole span, the trace and the chart parse.
#include <nlohmann/json.hpp>

#include "test_context.hpp"
#include "vkformer/profiler.hpp"
#include "vkformer/engine.hpp"

using namespace vkformer;

TEST_CASE("profile sums, trace and chart are consistent", "[profile]") {
  Context& context = testing::context_for();
  REQUIRE(context.info().timestamp_valid_bits > 0);
  Engine translator(context, std::string(VKFORMER_TEST_DATA) + "/tiny_swish_shared", true);
  Profiler profiler(true);
  translator.set_observer(&profiler);
  translator.translate_text({"Hello", "Where is the train station?"}, {.beam = 2, .max_length = 12});
  REQUIRE(!profiler.submits().empty());

  size_t dispatches = 0;
  for (const auto& submit : profiler.submits()) {
    double layer_sum = 0, previous_end = submit.layers.at(0).start_ns;
    for (const auto& layer : submit.layers) {
      // Layers run in recorded order without overlapping. How long the gaps between command buffers
      // are is timing, which depends on the machine's load, so it is not checked.
      CHECK(layer.start_ns >= previous_end);
      CHECK(layer.end_ns >= layer.start_ns);
      previous_end = layer.end_ns;
      layer_sum += (layer.end_ns - layer.start_ns) * 1e-6;
      double dispatch_sum = 0;
      for (const auto& d : layer.dispatches) dispatch_sum += (d.end_ns - d.start_ns) * 1e-6;
      // Dispatch slices tile their layer exactly: each starts where the previous one ended.
      CHECK(dispatch_sum == Approx(layer.end_ns * 1e-6 - layer.start_ns * 1e-6).margin(1e-6));
      dispatches += layer.dispatches.size();
    }
    CHECK(layer_sum <= submit.gpu_ms() + 1e-6);
    CHECK(submit.wall_ms >= 0);
  }

  const auto trace = nlohmann::json::parse(profiler.chrome_trace().dump());
  size_t dispatch_slices = 0;
  for (const auto& event : trace["traceEvents"]) dispatch_slices += event.value("cat", "") == "dispatch";
  CHECK(dispatch_slices == dispatches);

  const std::string svg = profiler.svg_chart();
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(svg.find("</svg>") != std::string::npos);
  size_t opened = 0, closed = 0;
  for (size_t at = svg.find("<rect"); at != std::string::npos; at = svg.find("<rect", at + 1)) ++opened;
  for (size_t at = svg.find("</rect>"); at != std::string::npos; at = svg.find("</rect>", at + 1)) ++closed;
  for (size_t at = svg.find("/>"); at != std::string::npos; at = svg.find("/>", at + 1)) ++closed;
  CHECK(opened == closed);
  CHECK(profiler.table().find("decoder L0") != std::string::npos);
  testing::require_no_validation_messages(context);
}
