#pragma once
// What a translation is asked to do and what it gives back: the options and results of
// vkformer::Translator (translator.hpp).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vkformer {

constexpr uint32_t kMaxBeam = 8;  // top-k keeps 2 x beam candidates, at most 16

struct DecodeOptions {
  uint32_t beam = 1;              // 1: greedy
  uint32_t n_best = 1;            // hypotheses returned per sentence (<= beam)
  float length_penalty = 1.0f;
  uint32_t max_length = 0;        // counts the start token, as transformers does; 0: the model's
  uint32_t batch_sentences = 32;
  uint32_t batch_tokens = 0;      // if set, also caps a batch's (sentences x longest source)
  // If set, the most bytes of decoding buffers, each and all together, below the device's own limits.
  // A batch whose buffers do not fit is split; a sentence that does not fit alone is an error.
  uint64_t memory_limit = 0;
  // Target ids every translation starts with after the decoder start token (an Argos package's
  // target_prefix): teacher-forced and unscored, as CTranslate2 does; hypotheses begin with them.
  std::vector<uint32_t> target_prefix;
  // Tokens, the target prefix's included, before the end token may be chosen (CTranslate2's
  // min_decoding_length, 1 by default: with a one-token prefix such as an Argos package's, the end token
  // may come right after it; CTranslate2 4.3.1 counts the prefix so).
  uint32_t min_length = 0;
  // Random sampling (beam 1 only): each step draws the next token from the sampling_topk most likely ones,
  // with probabilities softmax(log-probability / sampling_temperature) among them. sampling_topk 1 is greedy
  // (the temperature then changes nothing); at most kMaxSamplingTopK. Every sentence has its own generator,
  // seeded by (seed, its index in the translate() call), so its result does not depend on the batching.
  uint32_t sampling_topk = 1;
  float sampling_temperature = 1.0f;
  uint64_t seed = 0;
  // Discouraging repeats, as the model's runtime does (transformers' generate() for Marian models,
  // CTranslate2's translate_batch otherwise): the logit x of every token already in the output becomes
  // x * repetition_penalty below 0 and x / repetition_penalty otherwise (above 0; 1 changes nothing), and
  // with no_repeat_ngram_size N > 0 no N-gram of tokens occurs twice in the output (0: off). Which tokens
  // count and where it applies differ by runtime: see docs/MODELS.md.
  float repetition_penalty = 1.0f;
  uint32_t no_repeat_ngram_size = 0;
  // The index the call's first sentence has in the generators' seeds: a caller that splits one input into
  // several calls gives each call its first sentence's position in the input (the CLI: line number - 1).
  uint64_t first_sentence = 0;
  // Each hypothesis's attention: one vector per token of Hypothesis::ids, its weights over the source ids
  // (CTranslate2's return_attention: the model's alignment layer and heads; a Marian model's last decoder
  // layer, all heads averaged). Costs one small download per step.
  bool return_attention = false;
  // Text translations: a target unk token becomes the source piece it attends to most, instead of
  // vanishing (CTranslate2's replace_unknowns).
  bool replace_unknowns = false;
  bool needs_attention() const { return return_attention || replace_unknowns; }
};

constexpr uint32_t kMaxSamplingTopK = 16;  // the top-k kernel's limit

struct Hypothesis {
  std::vector<uint32_t> ids;      // generated tokens, without the start token, with </s> when finished
  std::optional<float> score;     // sum of log-probabilities / length^penalty (eos included); unset for an empty source
  std::string text;
  std::vector<std::string> tokens;  // Translator::translate_tokens: target tokens up to </s>, without it
  std::vector<std::vector<float>> attention;  // DecodeOptions::return_attention: per id, weights over source_ids
};

struct Translation {
  std::vector<uint32_t> source_ids;
  std::vector<Hypothesis> hypotheses;  // best first
};

}  // namespace vkformer
