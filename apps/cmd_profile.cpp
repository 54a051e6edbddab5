#include <chrono>
#include <fstream>
#include <limits>

#include <fmt/format.h>

#include "commands.hpp"
#include "io.hpp"
#include "model_path.hpp"
#include "vkformer/error.hpp"
#include "vkformer/profiler.hpp"
#include "vkformer/engine.hpp"

namespace vkformer::cli {

namespace {

struct ProfileArgs {
  ContextOptions context;
  std::string model;
  std::optional<Element> precision;  // unset: as the model stores them
  // Unset: the model's, as `translate` decodes.
  std::optional<uint32_t> beam;
  std::optional<float> length_penalty;
  uint32_t max_length = 0;  // 0: the model's
  uint32_t batch_size = 32;
  std::vector<std::string> texts;
  std::string trace, chart;
  bool json = false;
};

void write_file(const std::string& path, const std::string& content) {
  std::ofstream file(path);
  file << content;
  if (!file) throw Error(fmt::format("cannot write '{}'", path));
}

int run_profile(const ProfileArgs& args) {
  Context context(args.context);
  const bool timestamps = context.info().timestamp_valid_bits > 0;
  const std::string model = resolve_model(args.model).lexically_normal().string();
  Engine translator(context, model, timestamps, args.precision);
  DecodeOptions decode = translator.model_decode_options();
  decode.beam = args.beam.value_or(decode.beam);
  decode.length_penalty = args.length_penalty.value_or(decode.length_penalty);
  if (args.max_length) decode.max_length = args.max_length;
  decode.batch_sentences = args.batch_size;
  std::vector<std::string> lines = args.texts;
  if (lines.empty()) {
    for (std::string line; read_line(line);) lines.push_back(line);
  }
  if (lines.empty()) throw Error("nothing to profile: give sentences as arguments or on stdin");
  std::vector<std::vector<uint32_t>> sources;
  for (size_t i = 0; i < lines.size(); ++i) {
    try {
      sources.push_back(translator.encode(lines[i]));
    } catch (const Error& e) {
      throw Error(fmt::format("line {}: {}", i + 1, e.what()));
    }
  }
  // The same input without timestamps gives the profiling overhead; the untimed first passes compile the
  // pipelines, so both measurements are of steady-state work.
  double plain_wall = 0;
  {
    Engine plain(context, model, false, args.precision);
    plain.translate(sources, decode);
    const auto plain_start = std::chrono::steady_clock::now();
    plain.translate(sources, decode);
    plain_wall = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - plain_start).count();
  }
  translator.translate(sources, decode);
  Profiler profiler(timestamps);
  const DeviceCeilings ceilings = timestamps ? measure_ceilings(context) : DeviceCeilings{};
  profiler.set_ceilings(ceilings);
  translator.set_observer(&profiler);
  const auto start = std::chrono::steady_clock::now();
  const auto results = translator.translate(sources, decode);
  const double wall = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  translator.set_observer(nullptr);

  size_t tokens = 0;
  for (const auto& r : results) tokens += r.hypotheses.at(0).ids.size();
  if (args.json) {
    auto summary = profiler.summary();
    summary["device"] = context.info().name;
    summary["model"] = model;
    summary["beam"] = decode.beam;
    summary["length_penalty"] = decode.length_penalty;
    summary["batch_size"] = decode.batch_sentences;
    summary["wall_ms"] = wall;
    summary["wall_ms_without_timestamps"] = plain_wall;
    summary["ceilings"] = {{"gflops", ceilings.gflops}, {"gflops_f16", ceilings.gflops_f16}, {"gbps", ceilings.gbps}};
    summary["sentences"] = lines.size();
    summary["target_tokens"] = tokens;
    out("{}\n", summary.dump(2));
  } else {
    out("device: {} | tuning: {} | model: {}\n{} sentences, {} target tokens, beam {}, length penalty {}, batch size "
        "{}, wall {:.1f} ms\n",
        context.info().name, context.tuning().name, model, lines.size(), tokens, decode.beam, decode.length_penalty,
        decode.batch_sentences, wall);
    out("without timestamps the same translation took {:.1f} ms: profiling overhead {:+.1f}%\n", plain_wall,
        100.0 * (wall - plain_wall) / plain_wall);
    out("{}", profiler.table());
  }
  if (!args.trace.empty()) write_file(args.trace, profiler.chrome_trace().dump());
  if (!args.chart.empty()) {
    write_file(args.chart, profiler.svg_chart({.device = context.info().name, .model = model, .beam = decode.beam,
                                               .batch_size = decode.batch_sentences, .sentences = lines.size(),
                                               .wall_ms = wall}));
  }
  return 0;
}

}  // namespace

void add_profile(CLI::App& app, Run& run) {
  auto* command = app.add_subcommand("profile", "Translate and time every layer and dispatch with GPU timestamps");
  static ProfileArgs args;
  add_model_options(command, args.model, args.context, args.precision);
  command->add_option("--beam", args.beam, "Beam size, 1 = greedy (default: the model's, as translate)")
      ->check(CLI::Range(1u, kMaxBeam));
  command
      ->add_option("--length-penalty", args.length_penalty,
                   "Beam scores are divided by length^penalty (default: the model's, as translate)")
      ->check(finite_between(-10, 10));
  command
      ->add_option("--max-length", args.max_length,
                   "Most tokens per output, counting the start token (default: the model's max_length)")
      ->check(CLI::Range(2u, std::numeric_limits<uint32_t>::max()));
  command->add_option("--batch-size", args.batch_size, "Sentences per batch")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  command->add_option("--trace", args.trace, "Write a Chrome trace (Perfetto, chrome://tracing) to this file");
  command->add_option("--chart", args.chart, "Write an SVG chart of time per layer and dispatch to this file");
  command->add_flag("--json", args.json, "Print the figures as JSON");
  command->add_option("text", args.texts, "Sentences (default: stdin)");
  command->callback([&run] { run = [] { return run_profile(args); }; });
}

}  // namespace vkformer::cli
