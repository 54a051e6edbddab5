#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "io.hpp"
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

std::string hypotheses_text(const Translation& result) {
  std::string text;
  for (const auto& hypothesis : result.hypotheses) {
    if (result.hypotheses.size() > 1) {
      text += fmt::format("{:.4f}\t{}\n", hypothesis.score.value_or(0.0f), hypothesis.text);
    } else {
      text += hypothesis.text + "\n";
    }
  }
  return text;
}

std::string json_text(const std::string& source, const Translation& result, double batch_ms) {
  nlohmann::json hypotheses = nlohmann::json::array();
  for (const auto& h : result.hypotheses) {
    hypotheses.push_back({{"text", h.text}, {"ids", h.ids},
                          {"score", h.score ? nlohmann::json(*h.score) : nlohmann::json(nullptr)}});
  }
  return nlohmann::json{{"source", source}, {"source_ids", result.source_ids}, {"hypotheses", hypotheses},
                        {"batch_ms", batch_ms}}
             .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// Lines read but not yet printed, each encoded as it arrives. A line that cannot be encoded or translated
// ends the run: every line before it is printed first, then the error names it ("line 7: ...").
class Pending {
 public:
  Pending(Translator& translator, const TranslateArgs& args, std::string label, bool progress)
      : translator_(translator), args_(args), label_(std::move(label)), progress_(progress) {}
  Pending(const Pending&) = delete;
  Pending& operator=(const Pending&) = delete;
  ~Pending() {
    if (progress_ && printed_) std::fputs("\n", stderr);  // ends the progress line, also before an error
  }

  size_t size() const { return lines_.size(); }

  void add(std::string line) {
    try {
      sources_.push_back(translator_.encode(line));
    } catch (const std::exception& e) {
      const auto message = failure(lines_.size(), e.what());
      flush();
      throw Error(message);
    }
    lines_.push_back(std::move(line));
  }

  // Translates and prints the pending lines.
  void flush() {
    if (lines_.empty()) return;
    std::string text;
    try {
      text = translated(0, lines_.size());
    } catch (const std::exception&) {
      // One sentence can fail the batch it shares with others (its numbers overflow, its buffers do not fit):
      // one line at a time, in order, prints the lines before it and names it.
      print_one_by_one();
    }
    write_output(text);
    flush_output();
    printed_ += lines_.size();
    lines_.clear();
    sources_.clear();
    if (progress_) fmt::print(stderr, "\rtranslated {} lines", printed_);
  }

 private:
  std::string failure(size_t index, const char* what) const {
    return fmt::format("{} {}: {}", label_, printed_ + index + 1, what);
  }

  // The output of pending lines [begin, end).
  std::string translated(size_t begin, size_t end) {
    const std::vector<std::vector<uint32_t>> sources(sources_.begin() + long(begin), sources_.begin() + long(end));
    const auto start = std::chrono::steady_clock::now();
    auto results = translator_.translate(sources, args_.decode);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::string text;
    for (size_t i = 0; i < results.size(); ++i) {
      for (auto& h : results[i].hypotheses) h.text = translator_.tokenizer().decode(h.ids);
      text += args_.json ? json_text(lines_[begin + i], results[i], ms) : hypotheses_text(results[i]);
    }
    return text;
  }

  void print_one_by_one() {
    for (size_t i = 0; i < lines_.size(); ++i) {
      std::string text;
      try {
        text = translated(i, i + 1);
      } catch (const std::exception& e) {
        flush_output();
        throw Error(failure(i, e.what()));
      }
      write_output(text);
    }
  }

  Translator& translator_;
  const TranslateArgs& args_;
  const std::string label_;  // "line" (stdin) or "argument"
  const bool progress_;
  std::vector<std::string> lines_;
  std::vector<std::vector<uint32_t>> sources_;
  size_t printed_ = 0;  // lines before lines_[0]
};

// The model's generation_config decides what the command line leaves open.
void resolve_decode(TranslateArgs& args, const DecodeOptions& model) {
  args.decode.beam = args.beam.value_or(model.beam);
  args.decode.length_penalty = args.length_penalty.value_or(model.length_penalty);
  if (args.decode.n_best > args.decode.beam) {
    throw UsageError(fmt::format("--n-best {} is more than the beam size {}", args.decode.n_best, args.decode.beam));
  }
}

// A failed read still prints the lines read before it.
bool next_line(Pending& pending, std::string& line) {
  try {
    return read_line(line);
  } catch (const Error&) {
    pending.flush();
    throw;
  }
}

int run_translate(TranslateArgs& args) {
  Context context(args.context);
  Translator translator(context, resolve_model(args.model), false, args.precision);
  resolve_decode(args, translator.model_decode_options());
  if (!args.texts.empty()) {
    Pending pending(translator, args, "argument", false);
    for (auto& text : args.texts) pending.add(std::move(text));
    pending.flush();
    return 0;
  }
  // Interactive input is translated line by line; piped input in chunks, so batches fill up.
  const bool interactive = isatty(STDIN_FILENO);
  Pending pending(translator, args, "line", !interactive && isatty(STDERR_FILENO));
  const size_t chunk = interactive ? 1 : std::max<size_t>(args.decode.batch_sentences * 8, 64);
  for (std::string line; next_line(pending, line);) {
    pending.add(std::move(line));
    if (pending.size() >= chunk) pending.flush();
  }
  pending.flush();
  return 0;
}

}  // namespace

void add_translate(CLI::App& app, Run& run) {
  auto* command = app.add_subcommand("translate", "Translate text arguments, or stdin line by line");
  static TranslateArgs args;
  add_model_options(command, args.model, args.context, args.precision);
  command->add_option("--beam", args.beam, "Beam size, 1 = greedy (default: the model's generation_config num_beams)")
      ->check(CLI::Range(1u, kMaxBeam));
  command->add_option("--n-best", args.decode.n_best, "Hypotheses per sentence (<= beam)")
      ->check(CLI::Range(1u, kMaxBeam));
  command->add_option("--length-penalty", args.length_penalty,
                      "Beam scores are divided by length^penalty (default: the model's generation_config)")
      ->check(finite_between(-10, 10));
  command->add_option("--max-length", args.decode.max_length, "Most tokens per output, counting the start token")
      ->check(CLI::Range(2u, std::numeric_limits<uint32_t>::max()));
  command->add_option("--batch-size", args.decode.batch_sentences, "Sentences per batch")->check(CLI::Range(1, 4096));
  command->add_option("--batch-tokens", args.decode.batch_tokens, "Also cap sentences x longest source per batch");
  command->add_flag("--json", args.json, "One JSON object per sentence: tokens, scores, timing");
  command->add_flag("--validation", args.context.validation, "Enable Vulkan validation layers");
  command->add_option("text", args.texts, "Sentences to translate (default: read stdin)");
  command->callback([&run] { run = [] { return run_translate(args); }; });
}

}  // namespace vkformer::cli
