#include "vkformer/profiler.hpp"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "../translate/workspace.hpp"

namespace vkformer {

namespace {

struct Stats {
  std::vector<double> samples;
  double flops = 0, bytes = 0;
  double total() const {
    double sum = 0;
    for (double s : samples) sum += s;
    return sum;
  }
  double median() const {
    auto sorted = samples;
    std::sort(sorted.begin(), sorted.end());
    return sorted.empty() ? 0 : sorted[sorted.size() / 2];
  }
  double max() const { return samples.empty() ? 0 : *std::max_element(samples.begin(), samples.end()); }
};

// Keeps first-seen order, so tables read in execution order.
template <typename Value>
struct Ordered {
  std::vector<std::string> order;
  std::map<std::string, Value> values;
  Value& operator[](const std::string& key) {
    if (!values.count(key)) order.push_back(key);
    return values[key];
  }
};

// "123.45 GB/s", with " (12%)" of `ceiling` (same unit) when it is known.
std::string rate(double amount, double ms, const char* unit, double ceiling) {
  if (amount <= 0 || ms <= 0) return "";
  const double value = amount / (ms * 1e-3) * 1e-9;
  if (ceiling <= 0) return fmt::format("{:.2f} {}", value, unit);
  return fmt::format("{:.2f} {} ({:.0f}%)", value, unit, 100 * value / ceiling);
}

}  // namespace

double Profiler::Submit::gpu_ms() const {
  if (layers.empty()) return 0;
  return (layers.back().end_ns - layers.front().start_ns) * 1e-6;
}

void Profiler::submitted(const std::string& kind, const translate::Plan& plan, double wall_ms) {
  Submit submit{.kind = kind, .wall_ms = wall_ms};
  if (timestamps_) {
    for (const auto& sequence : plan.sequences) {
      const auto times = sequence->timestamps_ns();
      if (times.empty()) continue;
      Layer layer{.name = sequence->name(), .start_ns = times.front(), .end_ns = times.back()};
      for (size_t i = 0; i < sequence->labels().size(); ++i) {
        layer.dispatches.push_back({sequence->labels()[i], times[i], times[i + 1], sequence->costs()[i]});
      }
      submit.layers.push_back(std::move(layer));
    }
  }
  submits_.push_back(std::move(submit));
}

std::string Profiler::table() const {
  std::string out;
  double wall_total = 0, gpu_total = 0;
  Ordered<Stats> kinds;
  for (const auto& submit : submits_) {
    wall_total += submit.wall_ms;
    gpu_total += submit.gpu_ms();
    kinds[submit.kind].samples.push_back(submit.wall_ms);
  }
  out += fmt::format("{} submits, wall {:.2f} ms", submits_.size(), wall_total);
  if (!timestamps_) {
    out += " (this device has no timestamps on its compute queue: wall-clock time per submit only)\n";
    for (const auto& kind : kinds.order) {
      const auto& s = kinds.values.at(kind);
      out += fmt::format("  {:<14} {:>5} submits, total {:>9.2f} ms, median {:.3f} ms\n", kind, s.samples.size(),
                         s.total(), s.median());
    }
    return out;
  }
  out += fmt::format(", GPU {:.2f} ms (the difference is host work: recording, submit, readback)\n\n", gpu_total);

  Ordered<Stats> layers;
  Ordered<Stats> ops;
  double encoder = 0, decoder = 0;
  for (const auto& submit : submits_) {
    for (const auto& layer : submit.layers) {
      const double ms = (layer.end_ns - layer.start_ns) * 1e-6;
      layers[layer.name].samples.push_back(ms);
      (layer.name.rfind("encoder", 0) == 0 ? encoder : decoder) += ms;
      for (const auto& d : layer.dispatches) {
        auto& op = ops[d.label];
        op.samples.push_back((d.end_ns - d.start_ns) * 1e-6);
        op.flops += d.cost.flops;
        op.bytes += d.cost.bytes;
      }
    }
  }
  out += fmt::format("{:<20} {:>6} {:>10} {:>9} {:>9} {:>9}\n", "layer", "count", "total ms", "mean", "median", "max");
  for (const auto& name : layers.order) {
    const auto& s = layers.values.at(name);
    out += fmt::format("{:<20} {:>6} {:>10.3f} {:>9.4f} {:>9.4f} {:>9.4f}\n", name, s.samples.size(), s.total(),
                       s.total() / s.samples.size(), s.median(), s.max());
  }
  const double layer_total = encoder + decoder;
  out += fmt::format("\nencoder {:.3f} ms ({:.1f}%), decoder {:.3f} ms ({:.1f}%)\n\n", encoder,
                     100 * encoder / std::max(layer_total, 1e-9), decoder, 100 * decoder / std::max(layer_total, 1e-9));
  if (ceilings_.gflops > 0) {
    out += fmt::format("device ceilings (peak_fma, copy kernels): {:.0f} GFLOP/s, {:.0f} GB/s\n", ceilings_.gflops,
                       ceilings_.gbps);
  }
  out += fmt::format("{:<20} {:>6} {:>10} {:>7} {:>22} {:>18}\n", "dispatch", "count", "total ms", "share",
                     "compute (% of peak)", "memory (% of peak)");
  for (const auto& name : ops.order) {
    const auto& s = ops.values.at(name);
    out += fmt::format("{:<20} {:>6} {:>10.3f} {:>6.1f}% {:>22} {:>18}\n", name, s.samples.size(), s.total(),
                       100 * s.total() / std::max(layer_total, 1e-9),
                       rate(s.flops, s.total(), "GFLOP/s", ceilings_.gflops), rate(s.bytes, s.total(), "GB/s", ceilings_.gbps));
  }
  return out;
}

nlohmann::json Profiler::summary() const {
  nlohmann::json submits = nlohmann::json::array();
  for (const auto& submit : submits_) {
    nlohmann::json layers = nlohmann::json::array();
    for (const auto& layer : submit.layers) {
      nlohmann::json dispatches = nlohmann::json::array();
      for (const auto& d : layer.dispatches) {
        dispatches.push_back({{"label", d.label}, {"ms", (d.end_ns - d.start_ns) * 1e-6}, {"flops", d.cost.flops},
                              {"bytes", d.cost.bytes}});
      }
      layers.push_back({{"name", layer.name}, {"ms", (layer.end_ns - layer.start_ns) * 1e-6}, {"dispatches", dispatches}});
    }
    submits.push_back({{"kind", submit.kind}, {"wall_ms", submit.wall_ms}, {"gpu_ms", submit.gpu_ms()}, {"layers", layers}});
  }
  return {{"timestamps", timestamps_}, {"submits", submits}};
}

nlohmann::json Profiler::chrome_trace() const {
  nlohmann::json events = nlohmann::json::array();
  events.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", 1}, {"tid", 1}, {"args", {{"name", "compute queue"}}}});
  double origin = 0;
  for (const auto& submit : submits_) {
    if (!submit.layers.empty()) {
      origin = submit.layers.front().start_ns;
      break;
    }
  }
  auto slice = [&](const std::string& name, const std::string& category, double start, double end) {
    return nlohmann::json{{"name", name}, {"cat", category}, {"ph", "X"}, {"pid", 1}, {"tid", 1},
                          {"ts", (start - origin) * 1e-3}, {"dur", std::max(0.0, end - start) * 1e-3}};
  };
  for (const auto& submit : submits_) {
    for (const auto& layer : submit.layers) {
      events.push_back(slice(layer.name, "layer", layer.start_ns, layer.end_ns));
      for (const auto& d : layer.dispatches) events.push_back(slice(d.label, "dispatch", d.start_ns, d.end_ns));
    }
  }
  return {{"traceEvents", events}, {"displayTimeUnit", "ms"}};
}

std::string Profiler::svg_chart() const {
  // One horizontal bar per layer, split by dispatch label, summed over the whole run.
  Ordered<Ordered<double>> layers;
  Ordered<int> labels;
  for (const auto& submit : submits_) {
    for (const auto& layer : submit.layers) {
      for (const auto& d : layer.dispatches) {
        layers[layer.name][d.label] += (d.end_ns - d.start_ns) * 1e-6;
        labels[d.label];
      }
    }
  }
  double longest = 1e-9;
  for (const auto& name : layers.order) {
    double total = 0;
    for (const auto& [label, ms] : layers.values.at(name).values) total += ms;
    longest = std::max(longest, total);
  }
  static const char* palette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
                                  "#ff9da7", "#9c755f", "#bab0ac", "#1f77b4", "#d62728", "#2ca02c", "#9467bd"};
  const int label_width = 150, bar_width = 600, row = 24, top = 40;
  const int height = top + row * int(layers.order.size()) + 30 + 18 * int((labels.order.size() + 3) / 4);
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" "
      "font-size=\"12\">\n<text x=\"10\" y=\"20\" font-size=\"14\">GPU time per layer, by dispatch (total over the "
      "run, ms)</text>\n",
      label_width + bar_width + 80, height);
  for (size_t i = 0; i < layers.order.size(); ++i) {
    const auto& name = layers.order[i];
    const int y = top + int(i) * row;
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", label_width - 6, y + 15, name);
    double x = label_width, total = 0;
    const auto& parts = layers.values.at(name);
    for (const auto& label : parts.order) {
      const double ms = parts.values.at(label);
      const double w = ms / longest * bar_width;
      const size_t color = size_t(std::find(labels.order.begin(), labels.order.end(), label) - labels.order.begin());
      svg += fmt::format("<rect x=\"{:.2f}\" y=\"{}\" width=\"{:.2f}\" height=\"{}\" fill=\"{}\"><title>{} {}: {:.3f} ms"
                         "</title></rect>\n",
                         x, y + 3, w, row - 6, palette[color % std::size(palette)], name, label, ms);
      x += w;
      total += ms;
    }
    svg += fmt::format("<text x=\"{:.2f}\" y=\"{}\">{:.2f}</text>\n", x + 4, y + 15, total);
  }
  const int legend_top = top + row * int(layers.order.size()) + 20;
  for (size_t i = 0; i < labels.order.size(); ++i) {
    const int x = 10 + int(i % 4) * 200, y = legend_top + int(i / 4) * 18;
    svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{}</text>\n",
                       x, y, palette[i % std::size(palette)], x + 16, y + 11, labels.order[i]);
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace vkformer
