#pragma once
// Repetition penalty and no-repeat n-grams (DecodeOptions::repetition_penalty, no_repeat_ngram_size) as the
// model's runtime applies them: each decoder row's token history, following the rows as the searches
// reorder them, and the logit edits (ops/logits_edit.hpp) it implies for the row's next step.
#include <span>
#include <vector>

#include "search.hpp"
#include "vkformer/engine.hpp"

namespace vkformer::translate {

// A row's edits for its next step, sorted by token: with penalty != 1 every distinct token of `history`
// is penalized; with ngram_size N > 0 every token that followed an earlier occurrence of the history's
// last N - 1 tokens (all its tokens for N = 1) is banned instead, so no N-gram repeats.
std::vector<uint32_t> repetition_edits(std::span<const uint32_t> history, float penalty, uint32_t ngram_size);

class RepetitionRules {
 public:
  // transformers' processors see the decoder input ids, the start token first, and act on the logits in
  // greedy search and sampling but on their log-softmax in beam search (not normalized again after);
  // CTranslate2's see the ids after the start token (the target prefix included) and act on the logits,
  // normalized after. Options that ask for neither make every call below a plain decoder step.
  RepetitionRules(const DecodeOptions& options, const ModelConfig& config);
  // After first_rows(): every row's history is the start token (transformers) and the target prefix.
  void start(const Rows& rows, const std::vector<uint32_t>& prefix);
  // The plan of the next step of the rows (bucket of them), their edits written when there are rules;
  // scores: the plan writes attention scores (Workspace::decoder).
  Plan& step(Workspace& ws, uint32_t bucket, uint32_t top_k, bool ban_end, bool scores) const;
  // The next rows: row j's history is row parents[j]'s and tokens[j].
  void advance(const Rows& next);

 private:
  float penalty_;
  uint32_t ngram_size_;
  Edits mode_;
  std::vector<uint32_t> first_;  // what every history starts with: transformers' start token, or nothing
  std::vector<std::vector<uint32_t>> histories_;
};

}  // namespace vkformer::translate
