#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "model_path.hpp"
#include "vkformer/error.hpp"
#include "vkformer/translator.hpp"

namespace vkformer::cli {

namespace {

struct TranslateArgs {
  ContextOptions context;
  std::string model;
  Element precision = Element::f32;
  DecodeOptions decode;
  std::optional<uint32_t> beam;         // unset: the model's num_beams
  std::optional<float> length_penalty;  // unset: the model's
  bool json = false;
  std::vector<std::string> texts;
};

void print(const std::vector<std::string>& lines, const std::vector<Translation>& results, bool json, double batch_ms) {
  for (size_t i = 0; i < results.size(); ++i) {
    if (!json) {
      for (const auto& hypothesis : results[i].hypotheses) {
        if (results[i].hypotheses.size() > 1) {
          fmt::print("{:.4f}\t{}\n", hypothesis.score.value_or(0.0f), hypothesis.text);
        } else {
          fmt::print("{}\n", hypothesis.text);
        }
      }
      continue;
    }
    nlohmann::json hypotheses = nlohmann::json::array();
    for (const auto& h : results[i].hypotheses) {
      hypotheses.push_back({{"text", h.text}, {"ids", h.ids},
                            {"score", h.score ? nlohmann::json(*h.score) : nlohmann::json(nullptr)}});
    }
    fmt::print("{}\n", nlohmann::json{{"source", lines[i]}, {"source_ids", results[i].source_ids},
                                      {"hypotheses", hypotheses}, {"batch_ms", batch_ms}}
                           .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  std::fflush(stdout);
}

// Translates `lines` (first_line is the 1-based number of lines[0] in the input). A line that cannot be
// translated stops the run after everything before it has been printed.
void translate_chunk(Translator& translator, const std::vector<std::string>& lines, size_t first_line,
                     const TranslateArgs& args) {
  std::vector<std::vector<uint32_t>> sources;
  std::string failure;
  for (size_t i = 0; i < lines.size() && failure.empty(); ++i) {
    try {
      sources.push_back(translator.encode(lines[i]));
    } catch (const Error& e) {
      failure = fmt::format("line {}: {}", first_line + i, e.what());
    }
  }
  if (!sources.empty()) {
    const auto start = std::chrono::steady_clock::now();
    auto results = translator.translate(sources, args.decode);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    for (auto& result : results) {
      for (auto& h : result.hypotheses) h.text = translator.tokenizer().decode(h.ids);
    }
    print(std::vector<std::string>(lines.begin(), lines.begin() + long(sources.size())), results, args.json, ms);
  }
  if (!failure.empty()) throw Error(failure);
}

int run_translate(TranslateArgs& args) {
  Context context(args.context);
  Translator translator(context, resolve_model(args.model), false, args.precision);
  const DecodeOptions model = translator.model_decode_options();
  args.decode.beam = args.beam.value_or(model.beam);
  args.decode.length_penalty = args.length_penalty.value_or(model.length_penalty);
  if (!args.texts.empty()) {
    translate_chunk(translator, args.texts, 1, args);
    return 0;
  }
  // Interactive input is translated line by line; piped input in chunks, so batches fill up.
  const bool interactive = isatty(STDIN_FILENO);
  const bool progress = !interactive && isatty(STDERR_FILENO);
  const size_t chunk = interactive ? 1 : std::max<size_t>(args.decode.batch_sentences * 8, 64);
  std::vector<std::string> lines;
  size_t done = 0;
  std::string line;
  auto flush = [&] {
    translate_chunk(translator, lines, done + 1, args);
    done += lines.size();
    lines.clear();
    if (progress) fmt::print(stderr, "\rtranslated {} lines", done);
  };
  while (std::getline(std::cin, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    if (lines.size() >= chunk) flush();
  }
  if (!lines.empty()) flush();
  if (progress) fmt::print(stderr, "\n");
  return 0;
}

}  // namespace

void add_translate(CLI::App& app, Run& run) {
  auto* command = app.add_subcommand("translate", "Translate text arguments, or stdin line by line");
  static TranslateArgs args;
  add_model_options(command, args.model, args.context, args.precision);
  command->add_option("--beam", args.beam, "Beam size, 1 = greedy (default: the model's generation_config num_beams)")
      ->check(CLI::Range(1u, kMaxBeam));
  command->add_option("--n-best", args.decode.n_best, "Hypotheses per sentence (<= beam)");
  command->add_option("--length-penalty", args.length_penalty,
                      "Beam scores are divided by length^penalty (default: the model's generation_config)");
  command->add_option("--max-length", args.decode.max_length, "Most tokens per output, counting the start token");
  command->add_option("--batch-size", args.decode.batch_sentences, "Sentences per batch")->check(CLI::Range(1, 4096));
  command->add_option("--batch-tokens", args.decode.batch_tokens, "Also cap sentences x longest source per batch");
  command->add_flag("--json", args.json, "One JSON object per sentence: tokens, scores, timing");
  command->add_flag("--validation", args.context.validation, "Enable Vulkan validation layers");
  command->add_option("text", args.texts, "Sentences to translate (default: read stdin)");
  command->callback([&run] { run = [] { return run_translate(args); }; });
}

}  // namespace vkformer::cli
