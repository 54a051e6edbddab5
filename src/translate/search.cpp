// The searches over the decoder's steps: greedy (and random sampling), transformers' beam search for
// Marian models, CTranslate2's for CTranslate2 models; and the decoder rows they share (search.hpp).
#include "search.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "vkformer/error.hpp"
#include "vkformer/ops/argmax.hpp"
#include "vkformer/engine.hpp"
#include "repetition.hpp"

namespace vkformer {

namespace translate {

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

void check_finite(const std::vector<uint32_t>& ids, const Rows& rows, uint32_t per_row, uint32_t step) {
  for (size_t j = 0; j < rows.size(); ++j) {
    if (ids[j * per_row] == kNonFiniteRow) throw NonFiniteLogits{rows.sentences[j], step};
  }
}

Trail extend(const Trail& trail, const std::vector<std::vector<float>>& step_attention, uint32_t row) {
  if (step_attention.empty()) return trail;
  return std::make_shared<const AttentionTrail>(AttentionTrail{trail, step_attention[row]});
}

std::vector<std::vector<float>> unroll(const Trail& trail) {
  std::vector<std::vector<float>> out;
  for (const AttentionTrail* t = trail.get(); t; t = t->previous.get()) out.push_back(t->weights);
  std::reverse(out.begin(), out.end());
  return out;
}

Rows first_rows(Workspace& ws, uint32_t sentences, uint32_t per_sentence, uint32_t start,
                const std::vector<uint32_t>& prefix, uint32_t pad, const std::function<void(Plan&)>& run,
                std::vector<Trail>* trails) {
  Rows rows;
  for (uint32_t j = 0; j < sentences * per_sentence; ++j) rows.add(j, start, j / per_sentence);
  if (trails) trails->assign(rows.size(), nullptr);
  write_rows(ws, 0, rows, power_of_two_at_least(uint32_t(rows.size())), pad);
  for (uint32_t step = 0; step < prefix.size(); ++step) {
    const uint32_t bucket = power_of_two_at_least(uint32_t(rows.size()));
    ws.set_step(step, bucket);
    run(ws.decoder(bucket, 0, false, Edits::none, trails != nullptr));
    if (trails) {
      const auto attention = ws.attention(uint32_t(rows.size()));
      for (uint32_t j = 0; j < rows.size(); ++j) (*trails)[j] = extend((*trails)[j], attention, j);
    }
    Rows next;
    for (uint32_t j = 0; j < rows.size(); ++j) next.add(j, prefix[step], rows.sentences[j]);
    write_rows(ws, step, next, bucket, pad);
    rows = std::move(next);
  }
  return rows;
}

}  // namespace translate

using translate::check_finite;
using translate::first_rows;
using translate::NonFiniteLogits;
using translate::Path;
using translate::power_of_two_at_least;
using translate::RepetitionRules;
using translate::Rows;
using translate::start_token;
using translate::Trail;
using translate::unroll;
using translate::Workspace;
using translate::write_rows;

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

namespace {
// One decoder step of the rows: each row's top-k ids and log-probabilities and, when asked for, its
// attention (Workspace::attention).
struct StepOutput {
  std::vector<uint32_t> ids;
  std::vector<float> values;
  std::vector<std::vector<float>> attention;
};

StepOutput decoder_step(Workspace& ws, const Rows& rows, uint32_t step, uint32_t top_k, bool ban_end, bool attention,
                        const translate::RepetitionRules& repetition, const std::function<void(translate::Plan&)>& run) {
  const uint32_t bucket = power_of_two_at_least(uint32_t(rows.size()));
  ws.set_step(step, bucket);
  run(repetition.step(ws, bucket, top_k, ban_end, attention));
  StepOutput out{ws.top_ids(bucket, top_k), {}, {}};
  check_finite(out.ids, rows, top_k, step);
  out.values = ws.top_values(bucket, top_k);
  if (attention) out.attention = ws.attention(uint32_t(rows.size()));
  return out;
}
}  // namespace

std::vector<uint32_t> Engine::step_limits(const Workspace& ws, uint32_t sentences, uint32_t max_length) const {
  std::vector<uint32_t> limits;
  for (uint32_t i = 0; i < sentences; ++i) limits.push_back(step_limit(ws.state()[ws.length_offset() + i], max_length));
  return limits;
}

std::vector<Hypothesis> Engine::greedy(Workspace& ws, uint32_t sentences, const DecodeOptions& options,
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
  const bool attention = options.needs_attention();
  const auto limits = step_limits(ws, sentences, max_length);
  std::vector<Trail> trails;  // per sentence: greedy keeps one row per sentence
  Rows rows = first_rows(ws, sentences, 1, start_token(c), prefix, c.pad_id,
                         [&](translate::Plan& plan) { submit("decoder step", plan); }, attention ? &trails : nullptr);
  RepetitionRules repetition(options, c);
  repetition.start(rows, prefix);
  for (uint32_t step = uint32_t(prefix.size()); step < ws.shape().target; ++step) {
    const auto [ids, values, step_attention] =
        decoder_step(ws, rows, step, K, step < options.min_length, attention, repetition,
                     [&](translate::Plan& plan) { submit("decoder step", plan); });
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
      if (attention) trails[sentence] = translate::extend(trails[sentence], step_attention, j);
      // A forced eos has probability 1 (transformers' ForcedEOSTokenLogitsProcessor): it adds 0.
      if (!forced) sums[sentence] += values[size_t(j) * K + pick];
      if (token != c.eos_id && step + 1 < limits[sentence]) next.add(j, token, sentence);
    }
    if (next.size() == 0 || step + 2 >= max_length) break;
    repetition.advance(next);
    write_rows(ws, step, next, power_of_two_at_least(uint32_t(next.size())), c.pad_id);
    rows = std::move(next);
  }
  for (uint32_t i = 0; i < sentences; ++i) {
    out[i].ids.insert(out[i].ids.begin(), prefix.begin(), prefix.end());  // in the length, not in the sum
    out[i].score = float(sums[i] / std::pow(double(out[i].ids.size()), double(length_penalty)));
    if (attention) out[i].attention = unroll(trails[i]);
  }
  return out;
}

namespace {
// transformers' BeamHypotheses: the best `beams` finished hypotheses of one sentence.
struct Finished {
  struct Entry {
    double score;
    Path path;
    uint64_t order;
  };
  std::vector<Entry> entries;
  double worst = 1e9;
  uint64_t added = 0;

  void add(Path path, float sum_logprobs, uint32_t length, float penalty, uint32_t beams) {
    const double score = double(sum_logprobs) / std::pow(double(length), double(penalty));
    if (entries.size() >= beams && score <= worst) return;
    entries.push_back({score, std::move(path), added++});
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

std::vector<std::vector<Hypothesis>> Engine::beam_search(Workspace& ws, uint32_t sentences,
                                                         const DecodeOptions& options, uint32_t max_length) {
  const auto& c = config();
  const uint32_t N = options.beam, K = 2 * N;
  struct Sentence {
    std::vector<Path> beams;
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
  const bool attention = options.needs_attention();
  const auto limits = step_limits(ws, sentences, max_length);
  std::vector<Trail> trails;
  Rows rows = first_rows(ws, sentences, N, start_token(c), prefix, c.pad_id,
                         [&](translate::Plan& plan) { submit("decoder step", plan); }, attention ? &trails : nullptr);
  for (uint32_t i = 0; i < sentences && attention; ++i) {
    for (uint32_t b = 0; b < N; ++b) state[i].beams[b].attention = trails[i * N + b];
  }
  RepetitionRules repetition(options, c);
  repetition.start(rows, prefix);

  for (uint32_t step = uint32_t(prefix.size()); step < ws.shape().target; ++step) {
    const auto [ids, values, step_attention] =
        decoder_step(ws, rows, step, K, step < options.min_length, attention, repetition,
                     [&](translate::Plan& plan) { submit("decoder step", plan); });
    const uint32_t length = step + 1 - uint32_t(prefix.size());  // beam length after the prefix, with the start token
    const bool forced = c.forced_eos_id && step + 2 == max_length;
    Rows next;
    for (uint32_t i = 0; i < sentences; ++i) {
      Sentence& s = state[i];
      if (s.done) continue;
      const bool last = step + 1 >= limits[i];
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
            s.finished.add(s.beams[cand.beam].then(c.eos_id, step_attention, s.first_row + cand.beam), cand.score,
                           length, options.length_penalty, N);
          }
        } else {
          continuing.push_back(cand);
        }
      }
      s.done = s.finished.entries.size() >= N &&
               s.finished.worst >= double(candidates.front().score) / std::pow(double(length), double(options.length_penalty));
      std::vector<Path> beams;
      std::vector<float> scores;
      for (const auto& cand : continuing) {
        beams.push_back(s.beams[cand.beam].then(cand.token, step_attention, s.first_row + cand.beam));
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
    repetition.advance(next);
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
      ids.insert(ids.end(), entries[n].path.ids.begin(), entries[n].path.ids.end());
      out[i].push_back({.ids = std::move(ids), .score = float(entries[n].score),
                        .attention = unroll(entries[n].path.attention)});
    }
  }
  return out;
}

// CTranslate2's BeamSearch (decoding.cc): of the 2N best continuations of a sentence's N beams, the first N
// are looked at in order; one ending in eos (or any, at the last step) is a finished hypothesis with its raw
// score, and its slot goes to the next candidate among the other N that does not end in eos. A sentence is
// done when N hypotheses have finished (with length penalty 0: when its best beam finished) or at the last
// step; hypotheses are then scored sum / length^penalty (eos counted), best first.
std::vector<std::vector<Hypothesis>> Engine::ctranslate2_beam_search(Workspace& ws, uint32_t sentences,
                                                                     const DecodeOptions& options,
                                                                     uint32_t max_length) {
  const auto& c = config();
  const uint32_t N = options.beam, K = 2 * N;
  struct Finished {
    Path path;
    float score;
  };
  struct Sentence {
    std::vector<Path> beams;
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
  const bool attention = options.needs_attention();
  const auto limits = step_limits(ws, sentences, max_length);
  std::vector<Trail> trails;
  Rows rows = first_rows(ws, sentences, N, start_token(c), prefix, c.pad_id,
                         [&](translate::Plan& plan) { submit("decoder step", plan); }, attention ? &trails : nullptr);
  for (uint32_t i = 0; i < sentences && attention; ++i) {
    for (uint32_t b = 0; b < N; ++b) state[i].beams[b].attention = trails[i * N + b];
  }
  RepetitionRules repetition(options, c);
  repetition.start(rows, prefix);

  for (uint32_t step = uint32_t(prefix.size()); step < ws.shape().target; ++step) {
    const auto [ids, values, step_attention] =
        decoder_step(ws, rows, step, K, step < options.min_length, attention, repetition,
                     [&](translate::Plan& plan) { submit("decoder step", plan); });
    Rows next;
    for (uint32_t i = 0; i < sentences; ++i) {
      Sentence& s = state[i];
      if (s.done) continue;
      const bool last = step + 1 >= limits[i];
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
      // Only the best candidate may end at the first step after a target prefix: CTranslate2 turns an end
      // token further down into token 0 with score -1e10 (update_sample_with_prefix), a beam that stays.
      if (!prefix.empty() && step == prefix.size()) {
        for (uint32_t k = 1; k < K; ++k) {
          if (candidates[k].token == c.eos_id) candidates[k] = {-1e10f, candidates[k].beam, 0};
        }
      }
      std::vector<uint32_t> slots(N);
      uint32_t secondary = N;
      for (uint32_t k = 0; k < N; ++k) {
        slots[k] = k;
        const Candidate& cand = candidates[k];
        if (cand.token != c.eos_id && !last) continue;
        if (k == 0) s.top_finished = true;
        s.finished.push_back({s.beams[cand.beam].then(cand.token, step_attention, s.first_row + cand.beam), cand.score});
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
      std::vector<Path> beams;
      std::vector<float> scores;
      const uint32_t first = uint32_t(next.size());
      for (uint32_t k = 0; k < N; ++k) {
        const Candidate& cand = candidates[slots[k]];
        beams.push_back(s.beams[cand.beam].then(cand.token, step_attention, s.first_row + cand.beam));
        scores.push_back(cand.score);
        next.add(s.first_row + cand.beam, cand.token, i);
      }
      s.first_row = first;
      s.beams = std::move(beams);
      s.scores = std::move(scores);
    }
    if (next.size() == 0) break;
    repetition.advance(next);
    write_rows(ws, step, next, power_of_two_at_least(uint32_t(next.size())), c.pad_id);
    rows = std::move(next);
  }

  std::vector<std::vector<Hypothesis>> out(sentences);
  for (uint32_t i = 0; i < sentences; ++i) {
    std::vector<Hypothesis> hypotheses;
    for (auto& f : state[i].finished) {
      // The prefix counts in the length (not in the sum), as in CTranslate2.
      auto& ids = f.path.ids;
      ids.insert(ids.begin(), options.target_prefix.begin(), options.target_prefix.end());
      const double score = double(f.score) / std::pow(double(ids.size()), double(options.length_penalty));
      hypotheses.push_back({.ids = std::move(ids), .score = float(score), .attention = unroll(f.path.attention)});
    }
    std::stable_sort(hypotheses.begin(), hypotheses.end(),
                     [](const Hypothesis& a, const Hypothesis& b) { return *a.score > *b.score; });
    if (hypotheses.size() > options.n_best) hypotheses.resize(options.n_best);
    out[i] = std::move(hypotheses);
  }
  return out;
}

}  // namespace vkformer
