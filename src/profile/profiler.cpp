#include "vkformer/profiler.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <string_view>

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

// For SVG text and attributes: device names and model paths come from outside.
std::string xml_escaped(std::string_view text) {
  std::string escaped;
  for (const char c : text) {
    switch (c) {
      case '&': escaped += "&amp;"; break;
      case '<': escaped += "&lt;"; break;
      case '>': escaped += "&gt;"; break;
      case '"': escaped += "&quot;"; break;
      default: escaped += c;
    }
  }
  return escaped;
}

// "#rrggbb" of a hue in degrees, saturation and lightness in [0, 1].
std::string hsl_color(double hue, double saturation, double lightness) {
  const double chroma = (1 - std::abs(2 * lightness - 1)) * saturation;
  const double sector = std::fmod(hue, 360.0) / 60;
  const double second = chroma * (1 - std::abs(std::fmod(sector, 2.0) - 1));
  const double rgb[6][3] = {{chroma, second, 0}, {second, chroma, 0}, {0, chroma, second},
                            {0, second, chroma}, {second, 0, chroma}, {chroma, 0, second}};
  const double* c = rgb[std::min(5, int(sector))];
  const double m = lightness - chroma / 2;
  const auto byte = [m](double v) { return int(std::lround((v + m) * 255)); };
  return fmt::format("#{:02x}{:02x}{:02x}", byte(c[0]), byte(c[1]), byte(c[2]));
}

// 1, 2 or 5 times a power of ten, cutting [0, max] into at most 6 intervals: round tick values.
double tick_step(double max) {
  const double raw = std::max(max, 1e-6) / 6;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (const double m : {1.0, 2.0, 5.0}) {
    if (m * magnitude >= raw) return m * magnitude;
  }
  return 10 * magnitude;
}

}  // namespace

std::vector<std::string> chart_colors(size_t count) {
  // Tableau's 10, their light tones and six darks of d3's category20b: 26 colours, more than the dispatch
  // kinds of any run (23: a pre-norm model with a position table, decoding after a target prefix, which
  // takes arg max steps, with top-k). Beyond them, hues a golden angle apart in three lightnesses, skipping
  // any that repeats an earlier colour.
  static const char* const fixed[] = {
      "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
      "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7",
      "#dbdb8d", "#9edae5", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#5254a3"};
  std::vector<std::string> colors;
  for (size_t i = 0; colors.size() < count; ++i) {
    std::string color = i < std::size(fixed) ? fixed[i] : hsl_color(i * 137.50776, 0.65, 0.35 + 0.15 * (i % 3));
    if (std::find(colors.begin(), colors.end(), color) == colors.end()) colors.push_back(std::move(color));
  }
  return colors;
}

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
  // The kernels compute in f32: their rates are shares of the f32 peak; the f16 peak is what f16
  // arithmetic could reach.
  if (ceilings_.gflops > 0) {
    out += fmt::format("device ceilings (peak_fma, copy kernels): {:.0f} GFLOP/s{}, {:.0f} GB/s\n", ceilings_.gflops,
                       ceilings_.gflops_f16 > 0 ? fmt::format(" (f16: {:.0f})", ceilings_.gflops_f16) : "",
                       ceilings_.gbps);
  }
  out += fmt::format("{:<22} {:>6} {:>10} {:>7} {:>22} {:>18}\n", "dispatch", "count", "total ms", "share",
                     "compute (% of peak)", "memory (% of peak)");
  for (const auto& name : ops.order) {
    const auto& s = ops.values.at(name);
    out += fmt::format("{:<22} {:>6} {:>10.3f} {:>6.1f}% {:>22} {:>18}\n", name, s.samples.size(), s.total(),
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

std::string Profiler::svg_chart(const Run& run) const {
  // One horizontal bar per layer, split by dispatch kind, summed over the whole run.
  Ordered<Ordered<double>> layers;
  Ordered<int> kinds;
  for (const auto& submit : submits_) {
    for (const auto& layer : submit.layers) {
      for (const auto& d : layer.dispatches) {
        layers[layer.name][d.label] += (d.end_ns - d.start_ns) * 1e-6;
        kinds[d.label];
      }
    }
  }
  const auto colors = chart_colors(kinds.order.size());
  std::map<std::string, std::string> color_of;
  for (size_t i = 0; i < kinds.order.size(); ++i) color_of[kinds.order[i]] = colors[i];
  double longest = 0;
  for (const auto& name : layers.order) {
    double total = 0;
    for (const auto& [label, ms] : layers.values.at(name).values) total += ms;
    longest = std::max(longest, total);
  }
  const double step = tick_step(longest);
  const int intervals = std::max(1, int(std::ceil(longest / step - 1e-9)));
  const double axis_ms = intervals * step;
  const int decimals = std::max(0, -int(std::floor(std::log10(step) + 1e-9)));

  const int label_width = 150, bar_width = 600, row = 24, top = 72, legend_columns = 4;
  const int axis_y = top + row * int(layers.order.size()) + 4, legend_top = axis_y + 52;
  const int height = legend_top + 18 * int((kinds.order.size() + legend_columns - 1) / legend_columns) + 8;
  const auto x_of = [&](double ms) { return label_width + ms / axis_ms * bar_width; };
  const std::string heading = "GPU time per layer, by dispatch kind, summed over the run";
  const std::string setup = fmt::format("device: {} | model: {}", run.device, run.model);
  const std::string decoding = fmt::format("beam {}, batch size {}, {} sentences | wall {:.1f} ms", run.beam,
                                           run.batch_size, run.sentences, run.wall_ms);
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" "
      "font-size=\"12\">\n<title>{}: {}, {}</title>\n<g class=\"title\">\n<text x=\"10\" y=\"20\" font-size=\"14\">{}"
      "</text>\n<text x=\"10\" y=\"38\">{}</text>\n<text x=\"10\" y=\"54\">{}</text>\n</g>\n",
      label_width + bar_width + 80, height, xml_escaped(heading), xml_escaped(setup), xml_escaped(decoding),
      xml_escaped(heading), xml_escaped(setup), xml_escaped(decoding));

  // Grid lines first, so the bars cover them.
  for (int i = 1; i <= intervals; ++i) {
    svg += fmt::format("<line x1=\"{0:.2f}\" y1=\"{1}\" x2=\"{0:.2f}\" y2=\"{2}\" stroke=\"#e0e0e0\"/>\n",
                       x_of(i * step), top, axis_y);
  }
  for (size_t i = 0; i < layers.order.size(); ++i) {
    const auto& name = layers.order[i];
    const int y = top + int(i) * row;
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", label_width - 6, y + 15,
                       xml_escaped(name));
    double x = label_width, total = 0;
    const auto& parts = layers.values.at(name);
    for (const auto& label : parts.order) {
      const double ms = parts.values.at(label);
      const double w = ms / axis_ms * bar_width;
      svg += fmt::format("<rect x=\"{:.2f}\" y=\"{}\" width=\"{:.2f}\" height=\"{}\" fill=\"{}\" data-kind=\"{}\">"
                         "<title>{} {}: {:.3f} ms</title></rect>\n",
                         x, y + 3, w, row - 6, color_of.at(label), xml_escaped(label), xml_escaped(name),
                         xml_escaped(label), ms);
      x += w;
      total += ms;
    }
    svg += fmt::format("<text x=\"{:.2f}\" y=\"{}\">{:.2f}</text>\n", x + 4, y + 15, total);
  }

  svg += fmt::format("<g class=\"x-axis\">\n<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#000\"/>\n",
                     label_width, axis_y, label_width + bar_width, axis_y);
  for (int i = 0; i <= intervals; ++i) {
    const double x = x_of(i * step);
    svg += fmt::format("<line class=\"tick\" x1=\"{0:.2f}\" y1=\"{1}\" x2=\"{0:.2f}\" y2=\"{2}\" stroke=\"#000\"/>"
                       "<text class=\"tick-label\" x=\"{0:.2f}\" y=\"{3}\" text-anchor=\"middle\">{4:.{5}f}</text>\n",
                       x, axis_y, axis_y + 5, axis_y + 18, i * step, decimals);
  }
  svg += fmt::format("<text class=\"axis-title\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">GPU time (ms)</text>\n</g>\n",
                     label_width + bar_width / 2, axis_y + 34);

  svg += "<g class=\"legend\">\n";
  for (size_t i = 0; i < kinds.order.size(); ++i) {
    const int x = 10 + int(i % legend_columns) * 200, y = legend_top + int(i / legend_columns) * 18;
    svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\" data-kind=\"{}\"/>"
                       "<text x=\"{}\" y=\"{}\">{}</text>\n",
                       x, y, colors[i], xml_escaped(kinds.order[i]), x + 16, y + 11, xml_escaped(kinds.order[i]));
  }
  svg += "</g>\n</svg>\n";
  return svg;
}

}  // namespace vkformer
