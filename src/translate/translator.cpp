#include "vkformer/translator.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>

#include <fmt/format.h>

#include "vkformer/error.hpp"
#include "vkformer/ops/argmax.hpp"
#include "weights.hpp"
#include "workspace.hpp"

namespace vkformer {

using translate::Workspace;

namespace {

// Source lengths are rounded up to this for the encoder: a new length rebuilds the workspace, but every
// padded position costs a full encoder row. 4 translates batches of 32 10-13% faster than 16 and is as fast
// at batch 1; exact lengths slow beam search at batch 1 by rebuilding for most sentences (BENCHMARKS.md).
constexpr uint32_t kSourceBucket = 4;

uint32_t round_up(uint32_t value, uint32_t multiple) { return (value + multiple - 1) / multiple * multiple; }

uint32_t power_of_two_at_least(uint32_t value) {
  uint32_t p = 1;
  while (p < value) p *= 2;
  return p;
}

// The next layout of decoder rows: row j continues row parents[j] with token tokens[j].
struct Rows {
  std::vector<uint32_t> parents, tokens, sentences;
  size_t size() const { return parents.size(); }
  void add(uint32_t parent, uint32_t token, uint32_t sentence) {
    parents.push_back(parent);
    tokens.push_back(token);
    sentences.push_back(sentence);
  }
};

// Writes the next step's inputs. Row j's history is row parents[j]'s, plus the slot its parent wrote at
// `step`: the KV cache is never copied, only this table of where each key lives.
void write_rows(Workspace& ws, uint32_t step, const Rows& rows, uint32_t bucket, uint32_t pad) {
  uint32_t* state = ws.state();
  const uint32_t capacity = ws.capacity().target;
  uint32_t* trace = state + ws.trace_offset();
  std::vector<uint32_t> old(size_t(ws.capacity().rows) * step);  // the slots before `step` of every row
  for (size_t r = 0; r < ws.capacity().rows; ++r) std::copy_n(trace + r * capacity, step, old.begin() + r * step);
  for (uint32_t j = 0; j < bucket; ++j) {
    const bool used = j < rows.size();
    const uint32_t parent = used ? rows.parents[j] : 0;
    for (uint32_t t = 0; t < step; ++t) trace[j * capacity + t] = old[parent * step + t];
    if (step < capacity) trace[j * capacity + step] = parent;
    state[ws.ids_offset() + j] = used ? rows.tokens[j] : pad;
    state[ws.sentence_offset() + j] = used ? rows.sentences[j] : 0;
  }
}

// Thrown by greedy() and beam_search() when a row's logits are not all finite; translate() names the input.
struct NonFiniteLogits {
  uint32_t sentence, step;
};

// The argmax and top-k kernels mark a row whose logits hold a NaN or an infinity with kNonFiniteRow.
void check_finite(const std::vector<uint32_t>& ids, const Rows& rows, uint32_t per_row, uint32_t step) {
  for (size_t j = 0; j < rows.size(); ++j) {
    if (ids[j * per_row] == kNonFiniteRow) throw NonFiniteLogits{rows.sentences[j], step};
  }
}

// The first decoder rows, `per_sentence` for each sentence (its beams), from the start token through the
// target prefix: the prefix is teacher-forced and unscored as in CTranslate2, every row taking prefix[step]
// after step `step`. The search then starts at step prefix.size() from the prefix's last token.
Rows first_rows(Workspace& ws, uint32_t sentences, uint32_t per_sentence, uint32_t start,
                const std::vector<uint32_t>& prefix, uint32_t pad, const std::function<void(translate::Plan&)>& run) {
  Rows rows;
  for (uint32_t j = 0; j < sentences * per_sentence; ++j) rows.add(j, start, j / per_sentence);
  write_rows(ws, 0, rows, power_of_two_at_least(uint32_t(rows.size())), pad);
  for (uint32_t step = 0; step < prefix.size(); ++step) {
    const uint32_t bucket = power_of_two_at_least(uint32_t(rows.size()));
    ws.set_step(step, bucket);
    run(ws.decoder(bucket, 0));
    Rows next;
    for (uint32_t j = 0; j < rows.size(); ++j) next.add(j, prefix[step], rows.sentences[j]);
    write_rows(ws, step, next, bucket, pad);
    rows = std::move(next);
  }
  return rows;
}

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

Translator::Translator(Context& context, const std::filesystem::path& model_path, bool timestamps,
                       std::optional<Element> weights, bool tokenized)
    : context_(context), timestamps_(timestamps) {
  auto location = locate_model(model_path, tokenized);
  model_ = std::move(location.model);
  tokenizer_ = std::move(location.tokenizer);
  package_ = std::move(location.package);
  package_decoding_ = location.decoding;
  weights_ = std::make_unique<translate::Weights>(context, *model_, checked_precision(context, weights));
}

Translator::~Translator() = default;

const ModelConfig& Translator::config() const { return model_->config(); }

const Tokenizer& Translator::tokenizer() const {
  if (!tokenizer_) throw Error("this model has no tokenizer: it translates token ids only");
  return *tokenizer_;
}

uint64_t Translator::weight_bytes() const { return weights_->bytes(); }

DecodeOptions Translator::model_decode_options() const {
  const auto& c = config();
  DecodeOptions options{.beam = std::clamp(c.num_beams, 1u, kMaxBeam), .length_penalty = c.length_penalty};
  if (package_decoding_) {
    options.beam = std::clamp(package_decoding_->beam, 1u, kMaxBeam);
    options.length_penalty = package_decoding_->length_penalty;
    options.max_length = package_decoding_->max_decoding_length + 1;  // vkformer counts the start token
  }
  if (c.ctranslate2_decoding) options.min_length = 1;  // translate_batch's min_decoding_length
  if (package_decoding_) options.min_length = package_decoding_->min_decoding_length;
  if (tokenizer_) options.target_prefix = tokenizer_->target_prefix();
  return options;
}

std::vector<uint32_t> Translator::encode(const std::string& text) const {
  auto ids = tokenizer().encode(text);
  if (ids.size() > config().max_positions) {
    throw Error(fmt::format("input of {} tokens is longer than the model's {} positions", ids.size(),
                            config().max_positions));
  }
  return ids;
}

translate::Capacity Translator::capacity_for(uint32_t sentences, uint32_t longest, uint32_t beam,
                                             uint32_t max_length, uint32_t sampling_topk) const {
  const uint32_t source = std::min(round_up(std::max(longest, 1u), kSourceBucket), config().max_positions);
  // Output length is capped at twice the source plus a margin (and by max_length), which bounds the KV
  // cache; transformers runs to max_length, a difference only for runaway outputs.
  // CTranslate2 models run to max_length as CTranslate2 does.
  const uint32_t cap = config().ctranslate2_decoding ? config().max_positions : 2 * source + 32;
  const uint32_t target = std::min(max_length - 1, std::min(cap, config().max_positions));
  return {.sentences = sentences, .source = source, .rows = power_of_two_at_least(sentences * beam), .target = target,
          .top_k = beam > 1 ? 2 * beam : std::max(sampling_topk, 1u)};
}

// Why a workspace of `capacity` cannot be allocated, empty if it can: each buffer within the device's
// storage-buffer range and allocation size, all within heap_share(), and both within memory_limit if set.
std::string Translator::misfit(const translate::Capacity& capacity, uint64_t memory_limit) const {
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
uint32_t Translator::sentences_that_fit(uint32_t wanted, uint32_t longest, const DecodeOptions& options,
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
Workspace& Translator::workspace_for(const translate::Capacity& wanted, uint32_t sentences, uint32_t beam,
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

void Translator::submit(const std::string& kind, translate::Plan& plan) {
  const auto start = std::chrono::steady_clock::now();
  context_.submit_and_wait(plan.command_buffers);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (observer_) observer_->submitted(kind, plan, ms);
}

void Translator::run_encoder(Workspace& ws, const std::vector<const std::vector<uint32_t>*>& sources) {
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

// The token a row starts from: the decoder start token, or an id past the vocabulary, which the embedding
// kernel turns into a zero vector, for models that start from a zero embedding.
static uint32_t start_token(const ModelConfig& c) { return c.start_from_zero_embedding ? c.vocab_size : c.decoder_start_id; }

uint32_t sample_index(std::span<const float> log_probs, float temperature, double uniform) {
  if (log_probs.empty()) throw Error("sampling from no candidates");
  // softmax(log_probs / T): exp((x - max) / T), so T -> 0+ gives the most likely (the first of equals).
  float best = log_probs[0];
  for (float x : log_probs) best = std::max(best, x);
  std::vector<double> weights(log_probs.size());
  double total = 0.0;
  for (size_t i = 0; i < log_probs.size(); ++i) {
    const double w = std::exp((double(log_probs[i]) - double(best)) / double(temperature));
    weights[i] = std::isfinite(w) ? w : 0.0;
    total += weights[i];
  }
  double threshold = uniform * total;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (weights[i] > 0.0 && threshold < weights[i]) return uint32_t(i);
    threshold -= weights[i];
  }
  // Rounding left the threshold past the end: the last candidate that can be drawn.
  for (size_t i = weights.size(); i-- > 0;) {
    if (weights[i] > 0.0) return uint32_t(i);
  }
  return 0;
}

std::mt19937_64 sampling_generator(uint64_t seed, uint64_t sentence) {
  std::seed_seq seq{uint32_t(seed), uint32_t(seed >> 32), uint32_t(sentence), uint32_t(sentence >> 32)};
  return std::mt19937_64(seq);
}

double sampling_uniform(std::mt19937_64& generator) { return double(generator() >> 11) * 0x1.0p-53; }

std::vector<Hypothesis> Translator::greedy(Workspace& ws, uint32_t sentences, const DecodeOptions& options,
                                           uint32_t max_length, std::vector<std::mt19937_64>& generators) {
  const auto& prefix = options.target_prefix;
  const float length_penalty = options.length_penalty;
  const auto& c = config();
  // The sum of log-probabilities / length^penalty, eos included in both, as beam search reports it (and
  // CTranslate2 for greedy): the top-k kernel gives the log-probability with the token. Sampling reads
  // the top K and draws among them; the score sums the drawn tokens' log-probabilities (no temperature).
  const bool sampling = !generators.empty() && options.sampling_topk > 1;
  const uint32_t K = sampling ? options.sampling_topk : 1;
  std::vector<Hypothesis> out(sentences);
  std::vector<double> sums(sentences, 0.0);
  Rows rows = first_rows(ws, sentences, 1, start_token(c), prefix, c.pad_id,
                         [&](translate::Plan& plan) { submit("decoder step", plan); });
  for (uint32_t step = uint32_t(prefix.size()); step < ws.shape().target; ++step) {
    const uint32_t bucket = power_of_two_at_least(uint32_t(rows.size()));
    ws.set_step(step, bucket);
    submit("decoder step", ws.decoder(bucket, K, step - prefix.size() < options.min_length));
    const auto ids = ws.top_ids(bucket, K);
    check_finite(ids, rows, K, step);
    const auto values = ws.top_values(bucket, K);
    const bool forced = c.forced_eos_id && step + 2 == max_length;
    Rows next;
    for (uint32_t j = 0; j < rows.size(); ++j) {
      const uint32_t sentence = rows.sentences[j];
      uint32_t pick = 0;
      if (sampling && !forced) {
        pick = sample_index(std::span<const float>(values.data() + size_t(j) * K, K), options.sampling_temperature,
                            sampling_uniform(generators[sentence]));
      }
      const uint32_t token = forced ? *c.forced_eos_id : ids[size_t(j) * K + pick];
      out[sentence].ids.push_back(token);
      // A forced eos has probability 1 (transformers' ForcedEOSTokenLogitsProcessor): it adds 0.
      if (!forced) sums[sentence] += values[size_t(j) * K + pick];
      if (token != c.eos_id) next.add(j, token, sentence);
    }
    if (next.size() == 0 || step + 2 >= max_length) break;
    write_rows(ws, step, next, power_of_two_at_least(uint32_t(next.size())), c.pad_id);
    rows = std::move(next);
  }
  for (uint32_t i = 0; i < sentences; ++i) {
    out[i].ids.insert(out[i].ids.begin(), prefix.begin(), prefix.end());  // in the length, not in the sum
    out[i].score = float(sums[i] / std::pow(double(out[i].ids.size()), double(length_penalty)));
  }
  return out;
}

namespace {
// transformers' BeamHypotheses: the best `beams` finished hypotheses of one sentence.
struct Finished {
  struct Entry {
    double score;
    std::vector<uint32_t> ids;
    uint64_t order;
  };
  std::vector<Entry> entries;
  double worst = 1e9;
  uint64_t added = 0;

  void add(std::vector<uint32_t> ids, float sum_logprobs, uint32_t length, float penalty, uint32_t beams) {
    const double score = double(sum_logprobs) / std::pow(double(length), double(penalty));
    if (entries.size() >= beams && score <= worst) return;
    entries.push_back({score, std::move(ids), added++});
    if (entries.size() > beams) {
      // Drop the lowest; among equal scores the earliest added.
      auto lowest = std::min_element(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
        return a.score != b.score ? a.score < b.score : a.order < b.order;
      });
      entries.erase(lowest);
      worst = std::min_element(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
                return a.score < b.score;
              })->score;
    } else {
      worst = std::min(worst, score);
    }
  }
};

struct Candidate {
  float score;
  uint32_t beam, token;
};
}  // namespace

std::vector<std::vector<Hypothesis>> Translator::beam_search(Workspace& ws, uint32_t sentences,
                                                             const DecodeOptions& options, uint32_t max_length) {
  const auto& c = config();
  const uint32_t N = options.beam, K = 2 * N;
  struct Sentence {
    std::vector<std::vector<uint32_t>> beams;
    std::vector<float> scores;
    Finished finished;
    uint32_t first_row = 0;
    bool done = false;
  };
  std::vector<Sentence> state(sentences);
  for (uint32_t i = 0; i < sentences; ++i) {
    state[i].beams.assign(N, {});
    state[i].scores.assign(N, -1e9f);
    state[i].scores[0] = 0.0f;  // only the first beam is live at the first step
    state[i].first_row = i * N;
  }
  const auto& prefix = options.target_prefix;
  Rows rows = first_rows(ws, sentences, N, start_token(c), prefix, c.pad_id,
                         [&](translate::Plan& plan) { submit("decoder step", plan); });

  for (uint32_t step = uint32_t(prefix.size()); step < ws.shape().target; ++step) {
    const uint32_t bucket = power_of_two_at_least(uint32_t(rows.size()));
    ws.set_step(step, bucket);
    submit("decoder step", ws.decoder(bucket, K, step - prefix.size() < options.min_length));
    const auto ids = ws.top_ids(bucket, K);
    check_finite(ids, rows, K, step);
    const auto values = ws.top_values(bucket, K);
    const uint32_t length = step + 1 - uint32_t(prefix.size());  // beam length after the prefix, with the start token
    const bool forced = c.forced_eos_id && step + 2 == max_length;
    const bool last = step + 2 >= max_length || step + 1 >= ws.shape().target;
    Rows next;
    for (uint32_t i = 0; i < sentences; ++i) {
      Sentence& s = state[i];
      if (s.done) continue;
      std::vector<Candidate> candidates;
      for (uint32_t b = 0; b < N; ++b) {
        const uint32_t row = s.first_row + b;
        if (forced) {
          candidates.push_back({s.scores[b], b, *c.forced_eos_id});  // the forced eos scores 0
          continue;
        }
        for (uint32_t k = 0; k < K; ++k) candidates.push_back({values[row * K + k] + s.scores[b], b, ids[row * K + k]});
      }
      std::sort(candidates.begin(), candidates.end(), [&](const Candidate& a, const Candidate& b) {
        if (a.score != b.score) return a.score > b.score;
        return uint64_t(a.beam) * c.vocab_size + a.token < uint64_t(b.beam) * c.vocab_size + b.token;
      });
      if (candidates.size() > K) candidates.resize(K);
      std::vector<Candidate> continuing;
      for (uint32_t rank = 0; rank < candidates.size() && continuing.size() < N; ++rank) {
        const Candidate& cand = candidates[rank];
        if (cand.token == c.eos_id) {
          if (rank < N) {
            auto ids_with_eos = s.beams[cand.beam];
            ids_with_eos.push_back(c.eos_id);
            s.finished.add(std::move(ids_with_eos), cand.score, length, options.length_penalty, N);
          }
        } else {
          continuing.push_back(cand);
        }
      }
      s.done = s.finished.entries.size() >= N &&
               s.finished.worst >= double(candidates.front().score) / std::pow(double(length), double(options.length_penalty));
      std::vector<std::vector<uint32_t>> beams;
      std::vector<float> scores;
      for (const auto& cand : continuing) {
        beams.push_back(s.beams[cand.beam]);
        beams.back().push_back(cand.token);
        scores.push_back(cand.score);
      }
      if (!s.done && last) {
        for (size_t b = 0; b < beams.size(); ++b) {
          if (std::isfinite(scores[b])) s.finished.add(beams[b], scores[b], length, options.length_penalty, N);
        }
        s.done = true;
      }
      if (s.done) continue;
      const uint32_t first = uint32_t(next.size());
      for (const auto& cand : continuing) next.add(s.first_row + cand.beam, cand.token, i);
      s.first_row = first;
      s.beams = std::move(beams);
      s.scores = std::move(scores);
    }
    if (next.size() == 0) break;
    write_rows(ws, step, next, power_of_two_at_least(uint32_t(next.size())), c.pad_id);
    rows = std::move(next);
  }

  std::vector<std::vector<Hypothesis>> out(sentences);
  for (uint32_t i = 0; i < sentences; ++i) {
    auto entries = state[i].finished.entries;
    std::sort(entries.begin(), entries.end(), [](const Finished::Entry& a, const Finished::Entry& b) {
      return a.score != b.score ? a.score > b.score : a.order > b.order;
    });
    for (uint32_t n = 0; n < std::min<size_t>(options.n_best, entries.size()); ++n) {
      auto ids = prefix;
      ids.insert(ids.end(), entries[n].ids.begin(), entries[n].ids.end());
      out[i].push_back({.ids = std::move(ids), .score = float(entries[n].score)});
    }
  }
  return out;
}

// CTranslate2's BeamSearch (decoding.cc): of the 2N best continuations of a sentence's N beams, the first N
// are looked at in order; one ending in eos (or any, at the last step) is a finished hypothesis with its raw
// score, and its slot goes to the next candidate among the other N that does not end in eos. A sentence is
// done when N hypotheses have finished (with length penalty 0: when its best beam finished) or at the last
// step; hypotheses are then scored sum / length^penalty (eos counted), best first.
std::vector<std::vector<Hypothesis>> Translator::ctranslate2_beam_search(Workspace& ws, uint32_t sentences,
                                                                         const DecodeOptions& options,
                                                                         uint32_t max_length) {
  const auto& c = config();
  const uint32_t N = options.beam, K = 2 * N;
  struct Finished {
    std::vector<uint32_t> ids;
    float score;
  };
  struct Sentence {
    std::vector<std::vector<uint32_t>> beams;
    std::vector<float> scores;
    std::vector<Finished> finished;
    uint32_t first_row = 0;
    bool done = false, top_finished = false;
  };
  std::vector<Sentence> state(sentences);
  for (uint32_t i = 0; i < sentences; ++i) {
    state[i].beams.assign(N, {});
    state[i].scores.assign(N, -std::numeric_limits<float>::max());
    state[i].scores[0] = 0.0f;  // only the first beam is live at the first step
    state[i].first_row = i * N;
  }
  const auto& prefix = options.target_prefix;
  Rows rows = first_rows(ws, sentences, N, start_token(c), prefix, c.pad_id,
                         [&](translate::Plan& plan) { submit("decoder step", plan); });

  for (uint32_t step = uint32_t(prefix.size()); step < ws.shape().target; ++step) {
    const uint32_t bucket = power_of_two_at_least(uint32_t(rows.size()));
    ws.set_step(step, bucket);
    submit("decoder step", ws.decoder(bucket, K, step - prefix.size() < options.min_length));
    const auto ids = ws.top_ids(bucket, K);
    check_finite(ids, rows, K, step);
    const auto values = ws.top_values(bucket, K);
    const bool last = step + 2 >= max_length || step + 1 >= ws.shape().target;
    Rows next;
    for (uint32_t i = 0; i < sentences; ++i) {
      Sentence& s = state[i];
      if (s.done) continue;
      std::vector<Candidate> candidates;
      for (uint32_t b = 0; b < N; ++b) {
        const uint32_t row = s.first_row + b;
        for (uint32_t k = 0; k < K; ++k) candidates.push_back({values[row * K + k] + s.scores[b], b, ids[row * K + k]});
      }
      std::sort(candidates.begin(), candidates.end(), [&](const Candidate& a, const Candidate& b) {
        if (a.score != b.score) return a.score > b.score;
        return uint64_t(a.beam) * c.vocab_size + a.token < uint64_t(b.beam) * c.vocab_size + b.token;
      });
      candidates.resize(K);
      std::vector<uint32_t> slots(N);
      uint32_t secondary = N;
      for (uint32_t k = 0; k < N; ++k) {
        slots[k] = k;
        const Candidate& cand = candidates[k];
        if (cand.token != c.eos_id && !last) continue;
        if (k == 0) s.top_finished = true;
        auto hypothesis = s.beams[cand.beam];
        hypothesis.push_back(cand.token);
        s.finished.push_back({std::move(hypothesis), cand.score});
        for (uint32_t j = secondary; j < K; ++j) {
          if (candidates[j].token != c.eos_id) {
            slots[k] = j;
            secondary = j + 1;
            break;
          }
        }
      }
      if (last) {
        s.done = true;
      } else if (options.length_penalty == 0.0f) {
        s.done = s.top_finished && s.finished.size() >= options.n_best;
      } else {
        s.done = s.finished.size() >= N;
      }
      if (s.done) continue;
      std::vector<std::vector<uint32_t>> beams;
      std::vector<float> scores;
      const uint32_t first = uint32_t(next.size());
      for (uint32_t k = 0; k < N; ++k) {
        const Candidate& cand = candidates[slots[k]];
        beams.push_back(s.beams[cand.beam]);
        beams.back().push_back(cand.token);
        scores.push_back(cand.score);
        next.add(s.first_row + cand.beam, cand.token, i);
      }
      s.first_row = first;
      s.beams = std::move(beams);
      s.scores = std::move(scores);
    }
    if (next.size() == 0) break;
    write_rows(ws, step, next, power_of_two_at_least(uint32_t(next.size())), c.pad_id);
    rows = std::move(next);
  }

  std::vector<std::vector<Hypothesis>> out(sentences);
  for (uint32_t i = 0; i < sentences; ++i) {
    std::vector<Hypothesis> hypotheses;
    for (auto& f : state[i].finished) {
      // The prefix counts in the length (not in the sum), as in CTranslate2.
      f.ids.insert(f.ids.begin(), options.target_prefix.begin(), options.target_prefix.end());
      const double score = double(f.score) / std::pow(double(f.ids.size()), double(options.length_penalty));
      hypotheses.push_back({.ids = std::move(f.ids), .score = float(score)});
    }
    std::stable_sort(hypotheses.begin(), hypotheses.end(),
                     [](const Hypothesis& a, const Hypothesis& b) { return *a.score > *b.score; });
    if (hypotheses.size() > options.n_best) hypotheses.resize(options.n_best);
    out[i] = std::move(hypotheses);
  }
  return out;
}

std::vector<Translation> Translator::translate(const std::vector<std::vector<uint32_t>>& sources,
                                               const DecodeOptions& options) {
  if (options.beam == 0 || options.beam > kMaxBeam) throw Error(fmt::format("beam size must be between 1 and {}", kMaxBeam));
  if (options.n_best == 0 || options.n_best > options.beam) throw Error("n-best must be between 1 and the beam size");
  if (options.sampling_topk == 0 || options.sampling_topk > kMaxSamplingTopK) {
    throw Error(fmt::format("sampling top-k must be between 1 and {}", kMaxSamplingTopK));
  }
  if (!std::isfinite(options.sampling_temperature) || options.sampling_temperature <= 0.0f) {
    throw Error("sampling temperature must be a finite number above 0");
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

std::vector<Translation> Translator::translate_text(const std::vector<std::string>& lines, const DecodeOptions& options) {
  std::vector<std::vector<uint32_t>> sources;
  for (const auto& line : lines) sources.push_back(encode(line));
  auto results = translate(sources, options);
  for (auto& result : results) {
    for (auto& hypothesis : result.hypotheses) hypothesis.text = tokenizer().decode(hypothesis.ids);
  }
  return results;
}

std::vector<float> Translator::encoder_output(const std::vector<std::vector<uint32_t>>& sources, uint32_t& bucket) {
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

std::vector<std::vector<std::vector<float>>> Translator::forced_logits(
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
