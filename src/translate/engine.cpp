#include "vkformer/engine.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>

#include <fmt/format.h>

#include "vkformer/error.hpp"
#include "vkformer/ops/argmax.hpp"
#include "search.hpp"
#include "weights.hpp"
#include "workspace.hpp"

namespace vkformer {

using translate::NonFiniteLogits;
using translate::power_of_two_at_least;
using translate::Rows;
using translate::Workspace;
using translate::write_rows;

namespace {

// Source lengths are rounded up to this for the encoder: a new length rebuilds the workspace, but every
// padded position costs a full encoder row. 4 translates batches of 32 10-13% faster than 16 and is as fast
// at batch 1; exact lengths slow beam search at batch 1 by rebuilding for most sentences (BENCHMARKS.md).
constexpr uint32_t kSourceBucket = 4;

uint32_t round_up(uint32_t value, uint32_t multiple) { return (value + multiple - 1) / multiple * multiple; }

std::string size_text(uint64_t bytes) {
  if (bytes < (1u << 20)) return fmt::format("{:.1f} KiB", double(bytes) / 1024);
  return fmt::format("{:.1f} MiB", double(bytes) / (1u << 20));
}

// Half the largest device-local heap (its budget where the driver reports one): the rest is left to the
// weights and to other programs.
uint64_t heap_share(const DeviceInfo& info) {
  uint64_t largest = 0;
  for (const auto& heap : info.heaps) {
    if (heap.device_local) largest = std::max(largest, heap.budget ? heap.budget : heap.size);
  }
  return largest / 2;
}

}  // namespace

static std::optional<Element> checked_precision(const Context& context, std::optional<Element> weights) {
  if (weights == Element::f16 && !context.info().f16_texel_buffers) {
    throw Error(fmt::format("--precision f16: '{}' cannot read f16 texel buffers; use f32", context.info().name));
  }
  return weights;
}

Engine::Engine(Context& context, const std::filesystem::path& model_path, bool timestamps,
                       std::optional<Element> weights, bool tokenized)
    : context_(context), timestamps_(timestamps) {
  auto location = locate_model(model_path, tokenized);
  model_ = std::move(location.model);
  tokenizer_ = std::move(location.tokenizer);
  package_ = std::move(location.package);
  package_decoding_ = location.decoding;
  weights_ = std::make_unique<translate::Weights>(context, *model_, checked_precision(context, weights));
}

Engine::~Engine() = default;

const ModelConfig& Engine::config() const { return model_->config(); }

const Tokenizer& Engine::tokenizer() const {
  if (!tokenizer_) throw Error("this model has no tokenizer: it translates token ids only");
  return *tokenizer_;
}

uint64_t Engine::weight_bytes() const { return weights_->bytes(); }

DecodeOptions Engine::model_decode_options() const {
  const auto& c = config();
  DecodeOptions options{.beam = std::clamp(c.num_beams, 1u, kMaxBeam), .length_penalty = c.length_penalty};
  if (package_decoding_) {
    options.beam = std::clamp(package_decoding_->beam, 1u, kMaxBeam);
    options.length_penalty = package_decoding_->length_penalty;
    options.max_length = package_decoding_->max_decoding_length + 1;  // vkformer counts the start token
    options.replace_unknowns = package_decoding_->replace_unknowns;
  }
  if (c.ctranslate2_decoding) options.min_length = 1;  // translate_batch's min_decoding_length
  if (package_decoding_) options.min_length = package_decoding_->min_decoding_length;
  if (tokenizer_) options.target_prefix = tokenizer_->target_prefix();
  return options;
}

std::vector<uint32_t> Engine::encode(const std::string& text, std::vector<std::string>* pieces) const {
  auto ids = tokenizer().encode(text, pieces);
  if (ids.size() > config().max_positions) {
    throw Error(fmt::format("input of {} tokens is longer than the model's {} positions", ids.size(),
                            config().max_positions));
  }
  return ids;
}

uint32_t Engine::step_limit(uint32_t source_length, uint32_t max_length) const {
  const uint32_t source = std::min(round_up(std::max(source_length, 1u), kSourceBucket), config().max_positions);
  // Output length is capped at twice the source plus a margin (and by max_length), which bounds the KV
  // cache; transformers runs to max_length, a difference only for runaway outputs. The cap is each
  // sentence's own, so its translation does not depend on the sentences batched with it.
  // CTranslate2 models run to max_length as CTranslate2 does.
  const uint32_t cap = config().ctranslate2_decoding ? config().max_positions : 2 * source + 32;
  return std::min(max_length - 1, std::min(cap, config().max_positions));
}

translate::Capacity Engine::capacity_for(uint32_t sentences, uint32_t longest, uint32_t beam,
                                         uint32_t max_length, uint32_t sampling_topk) const {
  const uint32_t source = std::min(round_up(std::max(longest, 1u), kSourceBucket), config().max_positions);
  const uint32_t target = step_limit(longest, max_length);
  return {.sentences = sentences, .source = source, .rows = power_of_two_at_least(sentences * beam), .target = target,
          .top_k = beam > 1 ? 2 * beam : std::max(sampling_topk, 1u)};
}

// Why a workspace of `capacity` cannot be allocated, empty if it can: each buffer within the device's
// storage-buffer range and allocation size, all within heap_share(), and both within memory_limit if set.
std::string Engine::misfit(const translate::Capacity& capacity, uint64_t memory_limit) const {
  const auto& info = context_.info();
  uint64_t per_buffer = std::min(info.max_storage_buffer_range, info.max_allocation_size);
  uint64_t all = heap_share(info);
  if (memory_limit) {
    per_buffer = std::min(per_buffer, memory_limit);
    all = std::min(all, memory_limit);
  }
  uint64_t total = 0;
  for (const auto& [name, bytes] : Workspace::buffer_bytes(config(), capacity)) {
    if (bytes > per_buffer) {
      return fmt::format("buffer '{}' needs {}, more than the {} a buffer may have", name, size_text(bytes),
                         size_text(per_buffer));
    }
    total += bytes;
  }
  if (total > all) {
    return fmt::format("its buffers need {}, more than the {} allowed", size_text(total), size_text(all));
  }
  return {};
}

// Buffers grow with sentences x beam x length: the most sentences (up to `wanted`) of `longest` tokens
// whose buffers fit. Only a sentence that does not fit alone is an error.
uint32_t Engine::sentences_that_fit(uint32_t wanted, uint32_t longest, const DecodeOptions& options,
                                    uint32_t max_length) const {
  const auto misfit_for = [&](uint32_t sentences) {
    return misfit(capacity_for(sentences, longest, options.beam, max_length, options.sampling_topk), options.memory_limit);
  };
  if (const auto why = misfit_for(1); !why.empty()) {
    throw Error(fmt::format("a sentence of {} tokens does not fit '{}' with beam {}: {}", longest,
                            context_.info().name, options.beam, why));
  }
  uint32_t low = 1, high = wanted;  // low fits
  while (low < high) {
    const uint32_t middle = high - (high - low) / 2;
    if (misfit_for(middle).empty()) {
      low = middle;
    } else {
      high = middle - 1;
    }
  }
  return low;
}

// The workspace only grows (to the largest of each dimension that fits, else to what this batch needs):
// freeing and allocating buffers of other sizes for every source bucket fragmented the host heap of
// CPU drivers, whose device memory is malloc'ed, and RSS grew with every batch.
Workspace& Engine::workspace_for(const translate::Capacity& wanted, uint32_t sentences, uint32_t beam,
                                 uint64_t memory_limit) {
  const auto holds = [&](const translate::Capacity& c) {
    return c.source >= wanted.source && c.target >= wanted.target && c.sentences >= sentences &&
           c.rows >= sentences * beam && c.top_k >= wanted.top_k && misfit(c, memory_limit).empty();
  };
  if (!workspace_ || !holds(workspace_->capacity())) {
    translate::Capacity grown = wanted;
    if (workspace_) {
      const auto& c = workspace_->capacity();
      grown = {.sentences = std::max(c.sentences, wanted.sentences), .source = std::max(c.source, wanted.source),
               .rows = std::max(c.rows, wanted.rows), .target = std::max(c.target, wanted.target),
               .top_k = std::max(c.top_k, wanted.top_k)};
    }
    workspace_.reset();  // before allocating the next one
    workspace_ = std::make_unique<Workspace>(context_, *weights_, misfit(grown, memory_limit).empty() ? grown : wanted,
                                             timestamps_);
  }
  workspace_->set_shape(wanted);
  return *workspace_;
}

void Engine::submit(const std::string& kind, translate::Plan& plan) {
  const auto start = std::chrono::steady_clock::now();
  context_.submit_and_wait(plan.command_buffers);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (observer_) observer_->submitted(kind, plan, ms);
}

void Engine::run_encoder(Workspace& ws, const std::vector<const std::vector<uint32_t>*>& sources) {
  uint32_t* state = ws.state();
  const uint32_t S = ws.shape().source;
  for (uint32_t b = 0; b < sources.size(); ++b) {
    const auto& ids = *sources[b];
    state[ws.length_offset() + b] = uint32_t(ids.size());
    for (uint32_t t = 0; t < S; ++t) {
      state[ws.source_ids_offset() + b * S + t] = t < ids.size() ? ids[t] : config().pad_id;
      state[ws.source_position_offset() + b * S + t] = t;
    }
  }
  submit("encoder", ws.encoder(uint32_t(sources.size())));
}

std::vector<Translation> Engine::translate(const std::vector<std::vector<uint32_t>>& sources,
                                           const DecodeOptions& options) {
  if (options.beam == 0 || options.beam > kMaxBeam) throw Error(fmt::format("beam size must be between 1 and {}", kMaxBeam));
  if (options.n_best == 0 || options.n_best > options.beam) throw Error("n-best must be between 1 and the beam size");
  if (options.sampling_topk == 0 || options.sampling_topk > kMaxSamplingTopK) {
    throw Error(fmt::format("sampling top-k must be between 1 and {}", kMaxSamplingTopK));
  }
  if (!std::isfinite(options.sampling_temperature) || options.sampling_temperature <= 0.0f) {
    throw Error("sampling temperature must be a finite number above 0");
  }
  if (!std::isfinite(options.repetition_penalty) || options.repetition_penalty <= 0.0f) {
    throw Error("repetition penalty must be a finite number above 0");
  }
  if (options.beam > 1 && (options.sampling_topk > 1 || options.sampling_temperature != 1.0f)) {
    throw Error("random sampling needs beam size 1 (sampling top-k and temperature are for greedy decoding)");
  }
  const uint32_t max_length = options.max_length ? options.max_length : config().max_length;
  if (max_length < 2) throw Error("max-length must be at least 2 (it counts the start token)");
  if (options.target_prefix.size() + 2 > max_length) {
    throw Error(fmt::format("a target prefix of {} tokens leaves no room within max-length {}",
                            options.target_prefix.size(), max_length));
  }
  for (uint32_t id : options.target_prefix) {
    if (id >= config().vocab_size) throw Error(fmt::format("target prefix id {} is not in the vocabulary", id));
  }
  std::vector<Translation> results(sources.size());
  // An empty source (empty text where no eos is appended) translates to the empty hypothesis.
  std::vector<uint32_t> order;
  for (uint32_t i = 0; i < sources.size(); ++i) {
    if (sources[i].empty()) {
      results[i].hypotheses = {Hypothesis{}};
    } else {
      order.push_back(i);
    }
  }
  // Longest first: batches of similar lengths waste little on padding and share a source bucket.
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return sources[a].size() > sources[b].size(); });
  // Every batch's workspace is sized for a full batch, so later batches of the same bucket reuse it.
  const uint32_t batch_capacity = std::min<uint32_t>(options.batch_sentences, uint32_t(order.size()));
  for (size_t begin = 0; begin < order.size();) {
    const uint32_t longest = uint32_t(sources[order[begin]].size());
    const uint32_t most = sentences_that_fit(batch_capacity, longest, options, max_length);
    size_t end = begin;
    while (end < order.size() && end - begin < most &&
           (!options.batch_tokens || (end - begin + 1) * longest <= options.batch_tokens || end == begin)) {
      ++end;
    }
    std::vector<const std::vector<uint32_t>*> batch;
    for (size_t i = begin; i < end; ++i) batch.push_back(&sources[order[i]]);
    const uint32_t n = uint32_t(batch.size());
    Workspace& ws =
        workspace_for(capacity_for(most, longest, options.beam, max_length, options.sampling_topk), n, options.beam, options.memory_limit);
    run_encoder(ws, batch);
    try {
      if (options.beam == 1) {
        std::vector<std::mt19937_64> generators;
        if (options.sampling_topk > 1) {
          for (uint32_t i = 0; i < n; ++i) generators.push_back(sampling_generator(options.seed, options.first_sentence + order[begin + i]));
        }
        auto hypotheses = greedy(ws, n, options, max_length, generators);
        for (uint32_t i = 0; i < n; ++i) results[order[begin + i]].hypotheses = {std::move(hypotheses[i])};
      } else if (config().ctranslate2_decoding) {
        auto hypotheses = ctranslate2_beam_search(ws, n, options, max_length);
        for (uint32_t i = 0; i < n; ++i) results[order[begin + i]].hypotheses = std::move(hypotheses[i]);
      } else {
        auto hypotheses = beam_search(ws, n, options, max_length);
        for (uint32_t i = 0; i < n; ++i) results[order[begin + i]].hypotheses = std::move(hypotheses[i]);
      }
    } catch (const NonFiniteLogits& e) {
      const auto which = sources.size() > 1 ? fmt::format("sentence {}: ", order[begin + e.sentence] + 1) : "";
      throw Error(fmt::format("{}non-finite logits (numerical overflow) at decoder step {}", which, e.step + 1));
    }
    for (uint32_t i = 0; i < n; ++i) results[order[begin + i]].source_ids = *batch[i];
    begin = end;
  }
  return results;
}

void Engine::decode_hypotheses(Translation& translation, const std::vector<std::string>& source_pieces,
                               const DecodeOptions& options) const {
  for (auto& hypothesis : translation.hypotheses) {
    hypothesis.text = tokenizer().decode(
        hypothesis.ids,
        options.replace_unknowns ? unknown_replacements(hypothesis, source_pieces) : std::vector<std::string>{});
    if (!options.return_attention) hypothesis.attention.clear();
  }
}

std::vector<std::string> Engine::unknown_replacements(const Hypothesis& hypothesis,
                                                      const std::vector<std::string>& source_pieces) const {
  // CTranslate2's rule: the source piece with the most attention, wherever it is.
  std::vector<std::string> replacements(hypothesis.ids.size());
  const uint32_t unk = tokenizer().target_unk_id();
  for (size_t i = 0; i < hypothesis.ids.size() && i < hypothesis.attention.size() && !source_pieces.empty(); ++i) {
    const auto& weights = hypothesis.attention[i];
    if (hypothesis.ids[i] != unk || weights.empty()) continue;
    const size_t at = size_t(std::max_element(weights.begin(), weights.end()) - weights.begin());
    if (at < source_pieces.size()) replacements[i] = source_pieces[at];
  }
  return replacements;
}

std::vector<Translation> Engine::translate_text(const std::vector<std::string>& lines, const DecodeOptions& options) {
  std::vector<std::vector<uint32_t>> sources;
  std::vector<std::vector<std::string>> pieces(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    sources.push_back(encode(lines[i], options.replace_unknowns ? &pieces[i] : nullptr));
  }
  auto results = translate(sources, options);
  for (size_t i = 0; i < results.size(); ++i) decode_hypotheses(results[i], pieces[i], options);
  return results;
}

std::vector<float> Engine::encoder_output(const std::vector<std::vector<uint32_t>>& sources, uint32_t& bucket) {
  uint32_t longest = 0;
  std::vector<const std::vector<uint32_t>*> batch;
  for (const auto& ids : sources) {
    longest = std::max(longest, uint32_t(ids.size()));
    batch.push_back(&ids);
  }
  const uint32_t n = uint32_t(sources.size());
  Workspace& ws = workspace_for(capacity_for(n, longest, 1, config().max_length), n, 1, 0);
  run_encoder(ws, batch);
  bucket = ws.shape().source;
  return ws.encoder_output(uint32_t(sources.size()));
}

std::vector<std::vector<std::vector<float>>> Engine::forced_logits(
    const std::vector<std::vector<uint32_t>>& sources, const std::vector<std::vector<uint32_t>>& decoder_inputs) {
  uint32_t bucket = 0;
  encoder_output(sources, bucket);
  Workspace& ws = *workspace_;
  const uint32_t n = uint32_t(sources.size()), vocab = config().vocab_size;
  const uint32_t steps = uint32_t(decoder_inputs.at(0).size());
  if (steps > ws.shape().target) throw Error("forced decoding is longer than the decoder's capacity");
  std::vector<std::vector<std::vector<float>>> logits(n);
  const uint32_t rows_bucket = power_of_two_at_least(n);
  for (uint32_t step = 0; step < steps; ++step) {
    Rows rows;
    for (uint32_t i = 0; i < n; ++i) rows.add(i, decoder_inputs[i][step], i);
    write_rows(ws, step == 0 ? 0 : step - 1, rows, rows_bucket, config().pad_id);
    ws.set_step(step, rows_bucket);
    submit("decoder step", ws.decoder(rows_bucket, 0));
    const auto all = ws.logits(rows_bucket);
    for (uint32_t i = 0; i < n; ++i) logits[i].emplace_back(all.begin() + size_t(i) * vocab, all.begin() + size_t(i + 1) * vocab);
  }
  return logits;
}

}  // namespace vkformer
