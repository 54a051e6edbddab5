#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vkformer/ops/limits.hpp"
#include "vkformer/sequence.hpp"
#include "vkformer/engine.hpp"

namespace vkformer {

// `count` different "#rrggbb" colours, the chart's for its dispatch kinds in the order they first occur;
// a longer list begins with a shorter one.
std::vector<std::string> chart_colors(size_t count);

// Collects the timestamps of every submit an Engine makes (it must be built with timestamps on) and
// turns them into a table, JSON, a Chrome trace and an SVG chart. Devices without timestamps on the
// compute queue get wall-clock time per submit only.
class Profiler final : public SubmitObserver {
 public:
  struct Dispatch {
    std::string label;
    double start_ns = 0, end_ns = 0;
    DispatchCost cost;
  };
  struct Layer {
    std::string name;  // the sequence: "encoder L0", "decoder L1", "decoder output", ...
    double start_ns = 0, end_ns = 0;
    std::vector<Dispatch> dispatches;
  };
  struct Submit {
    std::string kind;  // "encoder" or "decoder step"
    double wall_ms = 0;
    std::vector<Layer> layers;
    double gpu_ms() const;
  };
  // What the chart's title says about the run.
  struct Run {
    std::string device, model;
    uint32_t beam = 1, batch_size = 0;
    size_t sentences = 0;
    double wall_ms = 0;
  };

  explicit Profiler(bool timestamps) : timestamps_(timestamps) {}
  void submitted(const std::string& kind, const translate::Plan& plan, double wall_ms) override;

  bool timestamps() const { return timestamps_; }
  // The device's measured ceilings (ops/limits.hpp): the table then shows each dispatch kind's rates as
  // a share of them.
  void set_ceilings(const DeviceCeilings& ceilings) { ceilings_ = ceilings; }
  const std::vector<Submit>& submits() const { return submits_; }

  std::string table() const;
  nlohmann::json summary() const;
  nlohmann::json chrome_trace() const;
  // One bar per layer split by dispatch kind, each kind its own colour, on an axis in ms.
  std::string svg_chart(const Run& run) const;

 private:
  bool timestamps_;
  DeviceCeilings ceilings_;
  std::vector<Submit> submits_;
};

}  // namespace vkformer
