#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "attention_svg.hpp"
#include "commands.hpp"
#include "io.hpp"
#include "model_path.hpp"
#include "serve_text.hpp"
#include "vkformer/error.hpp"
#include "vkformer/engine.hpp"

namespace vkformer::cli {

namespace {

using Clock = std::chrono::steady_clock;

// How long a batch waits for more lines from a pipe or terminal once it has one: long enough to gather what a
// writer sends together, short enough that a program sending one line gets its answer at once.
constexpr auto kGatherWait = std::chrono::milliseconds(5);
// Lines read ahead of translation at most (memory for a huge input stays bounded).
constexpr size_t kReadAhead = 16384;
// CTranslate2's default max_input_length.
constexpr uint32_t kDefaultMaxInput = 1024;

struct TranslateArgs {
  ContextOptions context;
  std::string model;
  std::optional<Element> precision;  // unset: as the model stores them
  bool tokenized = false;
  DecodeOptions decode;
  std::optional<uint32_t> beam;         // unset: the model's num_beams
  std::optional<float> length_penalty;  // unset: the model's
  std::optional<float> sampling_temperature;  // unset: 1
  bool json = false;
  bool quiet = false;
  bool skip_errors = false;  // --on-error skip
  bool split_sentences = false;  // each line cut into sentences (serve's rule), translated one by one
  uint32_t max_input_length = kDefaultMaxInput;
  std::string input, output;
  std::string attention;  // --attention: FILE.svg (one line) or a directory (a file per line)
  std::vector<std::string> texts;
};

// --attention FILE.svg draws one line; any other path is a directory of a heat map per line.
bool attention_to_file(const std::string& path) { return path.ends_with(".svg"); }

struct InputLine {
  size_t number = 0;  // 1-based
  std::string text;
  Clock::time_point read_at;
};

// Lines read from stdin by a thread of their own, so that reading overlaps translation and a batch takes
// whatever has arrived. A read error is kept and reported after the lines read before it.
class LineQueue {
 public:
  void push(InputLine line) {
    std::unique_lock lock(mutex_);
    space_.wait(lock, [&] { return lines_.size() < kReadAhead; });
    lines_.push_back(std::move(line));
    ready_.notify_one();
  }

  void finish(std::optional<std::string> error) {
    std::lock_guard lock(mutex_);
    finished_ = true;
    error_ = std::move(error);
    ready_.notify_one();
  }

  // Waits for a line or the end of input, then at most `wait` for more while there are fewer than `most`.
  // Returns false at the end of input; throws the read error, if any, once every line before it was taken.
  bool take(size_t most, std::chrono::milliseconds wait, std::vector<InputLine>& batch) {
    batch.clear();
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [&] { return !lines_.empty() || finished_; });
    const auto deadline = Clock::now() + wait;
    while (lines_.size() < most && !finished_) {
      if (ready_.wait_until(lock, deadline) == std::cv_status::timeout) break;
    }
    while (!lines_.empty() && batch.size() < most) {
      batch.push_back(std::move(lines_.front()));
      lines_.pop_front();
    }
    space_.notify_one();
    if (batch.empty() && error_) throw Error(*error_);
    return !batch.empty();
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_, space_;
  std::deque<InputLine> lines_;
  bool finished_ = false;
  std::optional<std::string> error_;
};

// Starts the thread that reads stdin. It is detached: a read may block forever (a terminal, a pipe kept
// open) after the run has ended with an error.
std::shared_ptr<LineQueue> start_reading() {
  auto queue = std::make_shared<LineQueue>();
  std::thread([queue] {
    try {
      LineReader reader;
      std::string text;
      for (size_t number = 1; reader.next(text); ++number) queue->push({number, std::move(text), Clock::now()});
      queue->finish(std::nullopt);
    } catch (const std::exception& e) {
      queue->finish(e.what());
    }
  }).detach();
  return queue;
}

std::string duration_text(double seconds) {
  const auto s = uint64_t(seconds + 0.5);
  return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
                   : fmt::format("{}:{:02}", s / 60, s % 60);
}

// A progress line on stderr: lines done (of the total when stdin is a file), lines/s and the time left.
class Progress {
 public:
  Progress(bool enabled, size_t total) : enabled_(enabled), total_(total), start_(Clock::now()) {}
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  ~Progress() { clear(); }  // an error line after it starts on a clean line

  void update(size_t done) {
    if (!enabled_) return;
    done_ = done;
    const double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    const double rate = seconds > 0 ? double(done) / seconds : 0;
    std::string text;
    if (total_ >= done && total_ > 0) {
      constexpr size_t kWidth = 24;
      const size_t filled = kWidth * done / total_;
      const std::string eta = rate > 0 ? duration_text(double(total_ - done) / rate) : "?";
      text = fmt::format("[{}{}] {}/{} lines, {:.1f} lines/s, ETA {}", std::string(filled, '#'),
                         std::string(kWidth - filled, '.'), done, total_, rate, eta);
    } else {
      text = fmt::format("{} lines, {:.1f} lines/s", done, rate);
    }
    fmt::print(stderr, "\r\033[K{}", text);
    shown_ = true;
  }

  // Erases the line, before a warning or output to the same terminal.
  void clear() {
    if (!shown_) return;
    std::fputs("\r\033[K", stderr);
    shown_ = false;
  }

  void finish() {
    if (!enabled_) return;
    clear();
    const double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    fmt::print(stderr, "translated {} lines in {} ({:.1f} lines/s)\n", done_, duration_text(seconds),
               seconds > 0 ? double(done_) / seconds : 0.0);
  }

 private:
  const bool enabled_;
  const size_t total_;  // 0: unknown
  const Clock::time_point start_;
  size_t done_ = 0;
  bool shown_ = false;
};

// Marian's n-best format: the 0-based sentence index, the text and the score.
std::string hypotheses_text(size_t index, const Translation& result) {
  if (result.hypotheses.size() == 1) return result.hypotheses[0].text + "\n";
  std::string text;
  for (const auto& h : result.hypotheses)
    text += fmt::format("{} ||| {} ||| {:.6f}\n", index, h.text, h.score.value_or(0.0f));
  return text;
}

std::string json_line(const nlohmann::json& record) {
  return record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// The lines of one run, translated batch by batch and written in input order as each batch is done.
class LineTranslator {
 public:
  LineTranslator(Engine& translator, const TranslateArgs& args, std::string label, Progress& progress)
      : translator_(translator),
        args_(args),
        label_(std::move(label)),
        progress_(progress),
        limit_(input_token_limit(translator, args.max_input_length)) {}

  void translate(const std::vector<InputLine>& batch) {
    if (args_.split_sentences) return translate_sentences(batch);
    const auto start = Clock::now();
    std::vector<std::optional<std::string>> errors(batch.size());
    std::vector<std::optional<size_t>> truncated(batch.size());
    std::vector<std::vector<uint32_t>> sources;
    std::vector<std::vector<std::string>> pieces;  // per source, when attention is asked for
    std::vector<size_t> source_of(batch.size(), SIZE_MAX);
    const bool with_pieces = args_.decode.needs_attention();
    if (attention_to_file(args_.attention) && batch.back().number > 1) {
      flush_output();
      throw UsageError(fmt::format("--attention {} draws one line; {} {} is another: give a directory for many lines",
                                   args_.attention, label_, batch.back().number));
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      try {
        auto encoded = encode_input(translator_, batch[i].text, limit_, with_pieces);
        check_known_tokens(batch[i], encoded.ids);
        if (encoded.truncated_from) truncated[i] = encoded.truncated_from;
        source_of[i] = sources.size();
        sources.push_back(std::move(encoded.ids));
        pieces.push_back(std::move(encoded.pieces));
      } catch (const std::exception& e) {
        errors[i] = e.what();
        if (!args_.skip_errors) break;  // the lines after it are not needed
      }
    }
    std::vector<Outcome> outcomes;
    if (args_.decode.sampling_topk > 1) {
      // Sampling: a line's generator is seeded by --seed and its line number, whatever the batching, so
      // each run of consecutive lines is one call whose first sentence is its first line.
      for (size_t i = 0; i < batch.size();) {
        if (source_of[i] == SIZE_MAX) {
          ++i;
          continue;
        }
        size_t end = i + 1;
        while (end < batch.size() && source_of[end] != SIZE_MAX) ++end;
        DecodeOptions options = args_.decode;
        options.first_sentence = batch[i].number - 1;
        std::vector<std::vector<uint32_t>> run(sources.begin() + source_of[i], sources.begin() + source_of[end - 1] + 1);
        std::vector<std::vector<std::string>> run_pieces(pieces.begin() + source_of[i],
                                                         pieces.begin() + source_of[end - 1] + 1);
        for (auto& outcome : translate_isolated(translator_, run, options, !args_.skip_errors, run_pieces)) {
          outcomes.push_back(std::move(outcome));
        }
        i = end;
      }
    } else {
      outcomes = translate_isolated(translator_, sources, args_.decode, !args_.skip_errors, pieces);
    }
    const double batch_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    progress_.clear();
    for (size_t i = 0; i < batch.size(); ++i) {
      const auto& line = batch[i];
      if (!errors[i] && source_of[i] != SIZE_MAX) {
        if (auto* message = std::get_if<std::string>(&outcomes[source_of[i]])) errors[i] = *message;
      }
      if (errors[i]) {
        failed(line, *errors[i]);
        continue;
      }
      if (truncated[i]) {
        warn(line, fmt::format("{} tokens, only the first {} translated (--max-input-length)", *truncated[i], limit_));
      }
      const auto& result = std::get<Translation>(outcomes[source_of[i]]);
      const auto& line_pieces = pieces[source_of[i]];
      if (!args_.attention.empty()) draw_attention(line, result, line_pieces);
      write_output(args_.json ? json_record(line, result, line_pieces, truncated[i], batch.size(), batch_ms)
                              : hypotheses_text(line.number - 1, result));
    }
    flush_output();
    done_ += batch.size();
    progress_.update(done_);
  }

  // --split-sentences: every sentence of every line of the batch in one call; a line's output is its text
  // with each sentence replaced by its translation (the spaces between them kept). A sentence that fails
  // fails its line.
  void translate_sentences(const std::vector<InputLine>& batch) {
    const auto start = Clock::now();
    const bool with_pieces = args_.decode.needs_attention();
    std::vector<Segmented> segmented(batch.size());
    std::vector<std::optional<std::string>> errors(batch.size());
    std::vector<size_t> first(batch.size() + 1, 0);  // line i's sentences are sources[first[i], first[i + 1])
    std::vector<std::vector<uint32_t>> sources;
    std::vector<std::vector<std::string>> pieces;
    std::vector<size_t> truncated;  // per source: tokens before truncation, 0 if none
    bool stopped = false;  // a line failed without --on-error skip: the lines after it are not needed
    for (size_t i = 0; i < batch.size(); ++i) {
      first[i] = sources.size();
      if (stopped) continue;
      try {
        segmented[i].add_text(batch[i].text);
        std::vector<EncodedInput> encoded;
        for (const auto& sentence : segmented[i].sentences()) {
          encoded.push_back(encode_input(translator_, sentence, limit_, with_pieces));
        }
        for (auto& e : encoded) {
          check_known_tokens(batch[i], e.ids);
          sources.push_back(std::move(e.ids));
          pieces.push_back(std::move(e.pieces));
          truncated.push_back(e.truncated_from);
        }
      } catch (const std::exception& e) {
        errors[i] = e.what();
        stopped = !args_.skip_errors;
      }
    }
    first[batch.size()] = sources.size();
    const auto outcomes = translate_isolated(translator_, sources, args_.decode, !args_.skip_errors, pieces);
    const double batch_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    progress_.clear();
    for (size_t i = 0; i < batch.size(); ++i) {
      const auto& line = batch[i];
      std::vector<std::string> texts;
      nlohmann::json sentences = nlohmann::json::array();
      for (size_t s = first[i]; s < first[i + 1] && !errors[i]; ++s) {
        if (auto* message = std::get_if<std::string>(&outcomes[s])) {
          errors[i] = *message;
          break;
        }
        const auto& translation = std::get<Translation>(outcomes[s]);
        const auto& best = translation.hypotheses.at(0);
        texts.push_back(best.text);
        if (truncated[s]) {
          warn(line, fmt::format("sentence {}: {} tokens, only the first {} translated (--max-input-length)",
                                 s - first[i] + 1, truncated[s], limit_));
        }
        if (args_.json) {
          sentences.push_back({{"source", segmented[i].sentences()[s - first[i]]},
                               {"source_ids", translation.source_ids},
                               {"text", best.text},
                               {"ids", best.ids},
                               {"score", best.score ? nlohmann::json(*best.score) : nlohmann::json(nullptr)}});
        }
      }
      if (errors[i]) {
        failed(line, *errors[i]);  // throws unless --on-error skip
        continue;
      }
      const std::string text = segmented[i].assemble(texts);
      if (args_.json) {
        write_output(json_line(
            {{"line", line.number},
             {"source", line.text},
             {"text", text},
             {"sentences", sentences},
             {"latency_ms", std::chrono::duration<double, std::milli>(Clock::now() - line.read_at).count()},
             {"batch", {{"sentences", sources.size()}, {"ms", batch_ms}}}}));
      } else {
        write_output(text + "\n");
      }
    }
    flush_output();
    done_ += batch.size();
    progress_.update(done_);
  }

 private:
  void warn(const InputLine& line, const std::string& message) {
    fmt::print(stderr, "vkformer: warning: {} {}: {}\n", label_, line.number, message);
  }

  // A model without a SentencePiece model reads tokens separated by spaces, as CTranslate2 does: plain
  // text given to it is all unknown tokens, and its translation meaningless. Said once, at the first line
  // with tokens and none of them in the source vocabulary.
  void check_known_tokens(const InputLine& line, const std::vector<uint32_t>& ids) {
    const Tokenizer& tokenizer = translator_.tokenizer();
    if (warned_unknown_ || args_.tokenized || tokenizer.kind() != TokenizerKind::tokens) return;
    size_t unknown = 0, known = 0;
    for (uint32_t id : ids) {
      if (id == tokenizer.unk_id()) {
        ++unknown;
      } else if (id != tokenizer.eos_id() && id != tokenizer.bos_id()) {
        ++known;
      }
    }
    if (unknown == 0 || known > 0) return;
    warned_unknown_ = true;
    warn(line, "none of its tokens is in the model's source vocabulary: this model has no SentencePiece model "
               "(source.spm and target.spm, or sentencepiece.model), so it reads tokens separated by spaces, as "
               "CTranslate2 does");
  }

  // --on-error fail: every line before it is written, then the error ends the run. skip: an empty line.
  void failed(const InputLine& line, const std::string& message) {
    if (!args_.skip_errors) {
      flush_output();
      throw Error(fmt::format("{} {}: {}", label_, line.number, message));
    }
    warn(line, message + " (skipped: its output is an empty line)");
    write_output(args_.json ? json_line({{"line", line.number}, {"source", line.text}, {"error", message}}) : "\n");
  }

  // The best hypothesis's cross attention as an SVG heat map: FILE.svg, or DIR/line-N.svg.
  void draw_attention(const InputLine& line, const Translation& result, const std::vector<std::string>& pieces) const {
    const auto& best = result.hypotheses.at(0);
    const std::filesystem::path path =
        attention_to_file(args_.attention) ? std::filesystem::path(args_.attention)
                                           : std::filesystem::path(args_.attention) / fmt::format("{}-{}.svg", label_, line.number);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << attention_svg(fmt::format("{} {}: {}", label_, line.number, line.text), pieces,
                         translator_.tokenizer().target_pieces(best.ids), best.attention);
    out.close();
    if (!out) throw Error(fmt::format("cannot write the attention map '{}'", path.string()));
  }

  std::string json_record(const InputLine& line, const Translation& result, const std::vector<std::string>& pieces,
                          std::optional<size_t> truncated, size_t batch_size, double batch_ms) const {
    nlohmann::json hypotheses = nlohmann::json::array();
    for (const auto& h : result.hypotheses) {
      hypotheses.push_back(
          {{"text", h.text}, {"ids", h.ids}, {"score", h.score ? nlohmann::json(*h.score) : nlohmann::json(nullptr)}});
      if (args_.decode.return_attention) {
        // [target token][source token]: the heat map's numbers, with both axes' pieces.
        hypotheses.back()["tokens"] = translator_.tokenizer().target_pieces(h.ids);
        hypotheses.back()["attention"] = h.attention;
      }
    }
    nlohmann::json record{
        {"line", line.number},
        {"source", line.text},
        {"source_ids", result.source_ids},
        {"hypotheses", hypotheses},
        {"latency_ms", std::chrono::duration<double, std::milli>(Clock::now() - line.read_at).count()},
        {"batch", {{"sentences", batch_size}, {"ms", batch_ms}}}};
    if (truncated) record["truncated_from_tokens"] = *truncated;
    if (args_.decode.return_attention) record["source_tokens"] = pieces;
    return json_line(record);
  }

  Engine& translator_;
  const TranslateArgs& args_;
  const std::string label_;  // "line" (stdin) or "argument"
  Progress& progress_;
  bool warned_unknown_ = false;
  const uint32_t limit_;
  size_t done_ = 0;
};

// The model's generation_config decides what the command line leaves open.
void resolve_decode(TranslateArgs& args, const DecodeOptions& model) {
  // Sampling decodes with beam 1 unless --beam says otherwise, which is then an error.
  const bool sampling = args.decode.sampling_topk > 1 || args.sampling_temperature.has_value();
  args.decode.beam = args.beam.value_or(sampling ? 1u : model.beam);
  if (sampling && args.decode.beam > 1) {
    throw UsageError(fmt::format("--sampling-topk and --sampling-temperature need --beam 1, not {}", args.decode.beam));
  }
  args.decode.sampling_temperature = args.sampling_temperature.value_or(1.0f);
  args.decode.length_penalty = args.length_penalty.value_or(model.length_penalty);
  if (!args.decode.max_length) args.decode.max_length = model.max_length;  // 0 leaves the model's config
  args.decode.min_length = model.min_length;
  args.decode.target_prefix = model.target_prefix;
  args.decode.replace_unknowns = args.decode.replace_unknowns || model.replace_unknowns;
  if (args.decode.n_best > args.decode.beam) {
    throw UsageError(fmt::format("--n-best {} is more than the beam size {}", args.decode.n_best, args.decode.beam));
  }
  if (args.split_sentences) {
    // A line's output is one text: it has no n-best list, attention map or line-seeded sampling.
    if (args.decode.n_best > 1) throw UsageError("--split-sentences gives one translation per line: no --n-best");
    if (!args.attention.empty()) throw UsageError("--split-sentences and --attention cannot be combined");
    if (sampling) throw UsageError("--split-sentences and random sampling cannot be combined");
  }
}

int run_translate(TranslateArgs& args) {
  if (!args.input.empty() && !args.texts.empty()) throw UsageError("give either --input or text arguments, not both");
  // Opened before the model loads, so that a wrong path fails at once.
  if (!args.input.empty()) open_input(args.input);
  if (!args.output.empty()) open_output(args.output);
  if (!args.attention.empty()) {
    args.decode.return_attention = true;
    std::error_code error;
    if (!attention_to_file(args.attention) && !std::filesystem::is_directory(args.attention) &&
        !std::filesystem::create_directories(args.attention, error)) {
      throw Error(fmt::format("--attention: cannot create the directory '{}'{}", args.attention,
                              error ? ": " + error.message() : ""));
    }
  }
  Context context(args.context);
  Engine translator(context, resolve_model(args.model), false, args.precision, args.tokenized);
  resolve_decode(args, translator.model_decode_options());
  if (!args.texts.empty()) {
    Progress none(false, 0);
    LineTranslator lines_translator(translator, args, "argument", none);
    std::vector<InputLine> lines;
    for (auto& text : args.texts) lines.push_back({lines.size() + 1, std::move(text), Clock::now()});
    lines_translator.translate(lines);
    return 0;
  }
  const size_t total = count_input_lines();
  // A file is read in chunks of several batches (sorted by length inside translate(), they waste less on
  // padding); a pipe or terminal one batch at a time, so that each line is answered as soon as possible.
  const size_t most = total > 0 ? std::max<size_t>(args.decode.batch_sentences * 4, 64) : args.decode.batch_sentences;
  Progress progress(!args.quiet && isatty(STDERR_FILENO) && !isatty(STDIN_FILENO), total);
  LineTranslator lines_translator(translator, args, "line", progress);
  const auto queue = start_reading();
  std::vector<InputLine> batch;
  while (queue->take(most, kGatherWait, batch)) lines_translator.translate(batch);
  progress.finish();
  return 0;
}

}  // namespace

void add_translate(CLI::App& app, Run& run) {
  auto* command = app.add_subcommand("translate",
                                     "Translate text arguments, or stdin (or --input) line by line; "
                                     "each line's translation is written as soon as its batch is done");
  static TranslateArgs args;
  add_model_options(command, args.model, args.context, args.precision);
  command->add_flag("--tokenized", args.tokenized,
                    "Input and output are tokens separated by spaces (the default for a CTranslate2 directory "
                    "without SentencePiece models)");
  command->add_option("-i,--input", args.input, "Read lines from this file instead of stdin");
  command->add_option("-o,--output", args.output, "Write translations to this file instead of stdout");
  command
      ->add_option("--beam", args.beam,
                   "Beam size, 1 = greedy (default: the model's: generation_config num_beams for Marian, 2 for "
                   "CTranslate2 as translate_batch, 4 for Argos packages)")
      ->check(CLI::Range(1u, kMaxBeam));
  command->add_flag("--split-sentences", args.split_sentences,
                    "Cut each line into sentences (after . ! or ? and a space, before an upper-case letter, digit, "
                    "quote, bracket or non-ASCII character, as serve does) and translate them one by one, as "
                    "Argos Translate does with its own splitter; a line's output keeps the spaces between them");
  command
      ->add_option("--n-best", args.decode.n_best,
                   "Hypotheses per sentence (<= beam); above 1, lines in Marian's n-best format "
                   "'INDEX ||| TEXT ||| SCORE' (INDEX from 0)")
      ->check(CLI::Range(1u, kMaxBeam))
      ->capture_default_str();
  command
      ->add_option("--length-penalty", args.length_penalty,
                   "Beam scores are divided by length^penalty (default: the model's: generation_config for Marian, "
                   "1 for CTranslate2, 0.2 for Argos packages)")
      ->check(finite_between(-10, 10));
  command
      ->add_option("--sampling-topk", args.decode.sampling_topk,
                   fmt::format("Random sampling: draw each token from the K most likely (1 = greedy, at most {}); "
                               "with beam 1 (the default when sampling)",
                               kMaxSamplingTopK))
      ->check(CLI::Range(1u, kMaxSamplingTopK))
      ->capture_default_str();
  command
      ->add_option("--sampling-temperature", args.sampling_temperature,
                   "Sampling probabilities are softmax(log-probability / T) over the top K; above 0 (default 1; "
                   "towards 0 more like greedy)")
      ->check(finite_above_zero(1e6));
  command
      ->add_option("--seed", args.decode.seed,
                   "Seed of the sampling: the same seed, input and options give the same output, however the "
                   "lines are batched")
      ->check(CLI::Validator(
          [](const std::string& value) -> std::string {
            uint64_t number = 0;
            const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
            if (value.empty() || error != std::errc() || end != value.data() + value.size()) {
              return fmt::format("{} is not a number from 0 to {}", value, std::numeric_limits<uint64_t>::max());
            }
            return {};
          },
          "UINT64"))
      ->capture_default_str();
  command
      ->add_option("--repetition-penalty", args.decode.repetition_penalty,
                   "Logits of tokens already in the output are multiplied by P where negative and divided by it "
                   "elsewhere, as the model's runtime does (transformers or CTranslate2); above 1 discourages "
                   "repeats, 1 (the default) is off")
      ->check(finite_above_zero(1e6))
      ->capture_default_str();
  command
      ->add_option("--no-repeat-ngram-size", args.decode.no_repeat_ngram_size,
                   "No N-gram of tokens occurs twice in an output (0, the default: off)")
      ->capture_default_str();
  command
      ->add_option("--max-length", args.decode.max_length,
                   "Most tokens per output, counting the start token (default: the model's max_length)")
      ->check(CLI::Range(2u, std::numeric_limits<uint32_t>::max()));
  command
      ->add_option("--max-input-length", args.max_input_length,
                   "Longer lines are truncated to their first N tokens, with a warning (CTranslate2's default "
                   "1024; never more than the model's positions, where the line would otherwise fail); "
                   "0: no truncation, a line longer than the positions is an error")
      ->capture_default_str();
  command->add_option("--batch-size", args.decode.batch_sentences, "Sentences per batch")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  command->add_option("--batch-tokens", args.decode.batch_tokens,
                      "Also cap sentences x longest source per batch (default 0: no cap)");
  command
      ->add_option_function<std::string>(
          "--on-error", [](const std::string& value) { args.skip_errors = value == "skip"; },
          "A line that cannot be translated (invalid UTF-8, too long, numbers that overflow): 'fail' ends the run "
          "with exit code 1 after the lines before it (default); 'skip' writes an empty line, warns on stderr "
          "naming the line, and goes on (exit code 0)")
      ->check(CLI::IsMember({"fail", "skip"}));
  command->add_flag("--replace-unknowns", args.decode.replace_unknowns,
                    "An unknown target token (unk) is written as the source piece it attends to most, instead of "
                    "being dropped (CTranslate2's replace_unknowns; always on for Argos packages, as argostranslate "
                    "asks)");
  command->add_option("--attention", args.attention,
                      "Draw the cross attention (source pieces x target pieces; the model's alignment heads, else "
                      "the last decoder layer's heads averaged) of each line's best translation as an SVG heat map: "
                      "into FILE.svg for one line, else into the directory PATH as line-N.svg; with --json the "
                      "records carry the matrices and pieces too")
      ->type_name("FILE.svg|DIR");
  command->add_flag("--json", args.json,
                    "One JSON object per line: line number, source ids, hypotheses with ids and scores, "
                    "latency_ms (from reading the line to writing it), its batch's size and time");
  command->add_flag("-q,--quiet", args.quiet, "No progress line on stderr (shown only when stderr is a terminal)");
  command->add_flag("--validation", args.context.validation, "Enable Vulkan validation layers");
  command->add_option("text", args.texts, "Sentences to translate (default: read stdin)");
  command->callback([&run] { run = [] { return run_translate(args); }; });
}

}  // namespace vkformer::cli
