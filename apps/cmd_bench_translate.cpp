// `vkformer bench translate`: end-to-end translation throughput. Reads a fixed input file and tokenizes
// it once. For each (beam, batch size) configuration it first translates a warm-up sample spread over
// the input (so pipelines for every length bucket are compiled), then the whole input, measuring wall
// time, sentences/s and target tokens/s (the generated ids of the best hypothesis, </s> included).
#include <algorithm>
#include <chrono>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "io.hpp"
#include "model_path.hpp"
#include "vkformer/error.hpp"
#include "vkformer/engine.hpp"

namespace vkformer::cli {

namespace {

struct BenchTranslateArgs {
  ContextOptions context;
  std::string model;
  std::optional<Element> precision;  // unset: as the model stores them
  std::string input;
  std::vector<uint32_t> beams{1, 4};
  std::vector<uint32_t> batch_sizes{1, 32};
  uint32_t max_length = 0;
  size_t lines = 0;
  bool json = false;
};

// --input, else tools/bench/input.en from the working directory, else from the source tree.
std::filesystem::path resolve_input(const std::string& option) {
  if (!option.empty()) return option;
  const std::filesystem::path relative = "tools/bench/input.en";
  if (std::filesystem::exists(relative)) return relative;
  return std::filesystem::path(VKFORMER_DEFAULT_MODEL) / "../.." / relative;
}

std::vector<std::string> read_lines(const std::filesystem::path& path, size_t limit) {
  std::ifstream file(path);
  if (!file) throw Error(fmt::format("cannot read {}", path.string()));
  std::vector<std::string> lines;
  for (std::string line; (limit == 0 || lines.size() < limit) && std::getline(file, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
  }
  if (lines.empty()) throw Error(fmt::format("{} has no lines", path.string()));
  return lines;
}

struct Result {
  uint32_t beam, batch;
  double seconds;
  size_t target_tokens;
  std::vector<std::vector<uint32_t>> outputs;  // best hypothesis of each sentence
};

Result measure(Engine& translator, const std::vector<std::vector<uint32_t>>& sources, uint32_t beam,
               uint32_t batch, uint32_t max_length) {
  const DecodeOptions options{.beam = beam, .max_length = max_length, .batch_sentences = batch};
  const size_t warmup = std::min(sources.size(), std::max<size_t>(64, 2 * size_t(batch)));
  std::vector<std::vector<uint32_t>> sample;
  for (size_t i = 0; i < warmup; ++i) sample.push_back(sources[i * sources.size() / warmup]);
  translator.translate(sample, options);
  const auto start = std::chrono::steady_clock::now();
  const auto translations = translator.translate(sources, options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Result result{.beam = beam, .batch = batch, .seconds = seconds, .target_tokens = 0, .outputs = {}};
  for (const auto& translation : translations) {
    result.outputs.push_back(translation.hypotheses.front().ids);
    result.target_tokens += result.outputs.back().size();
  }
  return result;
}

int run_bench_translate(const BenchTranslateArgs& args) {
  Context context(args.context);
  const auto model = resolve_model(args.model);
  Engine translator(context, model, false, args.precision);
  const auto input = resolve_input(args.input);
  const auto lines = read_lines(input, args.lines);
  std::vector<std::vector<uint32_t>> sources;
  size_t source_tokens = 0;
  for (const auto& line : lines) {
    sources.push_back(translator.encode(line));
    source_tokens += sources.back().size();
  }
  const uint32_t max_length = args.max_length ? args.max_length : translator.config().max_length;

  std::vector<Result> results;
  for (const uint32_t beam : args.beams) {
    for (const uint32_t batch : args.batch_sizes) {
      results.push_back(measure(translator, sources, beam, batch, max_length));
      if (!args.json) {
        const auto& r = results.back();
        if (results.size() == 1) {
          out("device: {} ({})\nmodel: {}\ninput: {} ({} sentences, {} source tokens), max length {}\n\n",
              context.info().name, context.info().driver_name, model.string(), input.string(),
              sources.size(), source_tokens, max_length);
          out("{:>4} {:>6} {:>9} {:>12} {:>14} {:>10}\n", "beam", "batch", "wall s", "sentences/s",
              "target tok/s", "tokens");
        }
        out("{:>4} {:>6} {:>9.3f} {:>12.2f} {:>14.1f} {:>10}\n", r.beam, r.batch, r.seconds,
            double(sources.size()) / r.seconds, double(r.target_tokens) / r.seconds, r.target_tokens);
        flush_output();
      }
    }
  }
  if (args.json) {
    nlohmann::json source_ids = nlohmann::json::array();
    for (const auto& ids : sources) source_ids.push_back(ids);
    nlohmann::json configs = nlohmann::json::array();
    for (const auto& r : results) {
      configs.push_back({{"beam", r.beam}, {"batch", r.batch}, {"seconds", r.seconds},
                         {"sentences_per_s", double(sources.size()) / r.seconds}, {"target_tokens", r.target_tokens},
                         {"target_tokens_per_s", double(r.target_tokens) / r.seconds}, {"outputs", r.outputs}});
    }
    const nlohmann::json report{{"device", context.info().name}, {"driver", context.info().driver_name},
                                {"model", model.string()},       {"input", input.string()},
                                {"sentences", sources.size()},   {"source_tokens", source_tokens},
                                {"max_length", max_length},      {"source_ids", source_ids},
                                {"results", configs}};
    out("{}\n", report.dump());
  }
  return 0;
}

}  // namespace

void add_bench_translate(CLI::App& bench, Run& run) {
  auto* command = bench.add_subcommand("translate", "End-to-end translation throughput on a fixed input");
  static BenchTranslateArgs args;
  add_model_options(command, args.model, args.context, args.precision);
  command->add_option("--input", args.input, "One sentence per line; default: tools/bench/input.en");
  command->add_option("--lines", args.lines, "Use only the first N lines (0: all)");
  command->add_option("--beam", args.beams, "Beam sizes to measure (1 = greedy)")->check(CLI::Range(1, 8));
  command->add_option("--batch-size", args.batch_sizes, "Batch sizes to measure")->check(CLI::Range(1, 4096));
  command->add_option("--max-length", args.max_length, "Most tokens per output, counting the start token")
      ->check(CLI::Range(2u, std::numeric_limits<uint32_t>::max()));
  command->add_flag("--json", args.json, "One JSON object: timings per configuration and the output ids");
  command->callback([&run] { run = [] { return run_bench_translate(args); }; });
}

}  // namespace vkformer::cli
