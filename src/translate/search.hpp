#pragma once
// The decoder rows of a search and how their step inputs reach the device: shared by the searches
// (search.cpp: greedy, sampling, transformers' and CTranslate2's beam search) and engine.cpp.
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "vkformer/model/model.hpp"
#include "workspace.hpp"

namespace vkformer::translate {

inline uint32_t power_of_two_at_least(uint32_t value) {
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

// The attention vectors of a hypothesis's tokens, newest first, shared by the rows that descend from
// one row (beam search forks hypotheses without copying their past). Null: no attention asked for.
struct AttentionTrail {
  std::shared_ptr<const AttentionTrail> previous;
  std::vector<float> weights;
};
using Trail = std::shared_ptr<const AttentionTrail>;
// `trail` followed by row `row` of a step's attention (Workspace::attention); null stays null.
Trail extend(const Trail& trail, const std::vector<std::vector<float>>& step_attention, uint32_t row);
// Oldest first.
std::vector<std::vector<float>> unroll(const Trail& trail);

// A hypothesis being built by a beam search: its tokens and their attention.
struct Path {
  std::vector<uint32_t> ids;
  Trail attention;
  Path then(uint32_t token, const std::vector<std::vector<float>>& step_attention, uint32_t row) const {
    Path next{ids, extend(attention, step_attention, row)};
    next.ids.push_back(token);
    return next;
  }
};

// Writes the next step's inputs. Row j's history is row parents[j]'s, plus the slot its parent wrote at
// `step`: the KV cache is never copied, only this table of where each key lives.
void write_rows(Workspace& ws, uint32_t step, const Rows& rows, uint32_t bucket, uint32_t pad);

// Thrown by the searches when a row's logits are not all finite; translate() names the input.
struct NonFiniteLogits {
  uint32_t sentence, step;
};

// The argmax and top-k kernels mark a row whose logits hold a NaN or an infinity with kNonFiniteRow.
void check_finite(const std::vector<uint32_t>& ids, const Rows& rows, uint32_t per_row, uint32_t step);

// The first decoder rows, `per_sentence` for each sentence (its beams), from the start token through the
// target prefix: the prefix is teacher-forced and unscored as in CTranslate2, every row taking prefix[step]
// after step `step`. The search then starts at step prefix.size() from the prefix's last token. With
// `trails` (attention asked for), each row's trail through the prefix goes there.
Rows first_rows(Workspace& ws, uint32_t sentences, uint32_t per_sentence, uint32_t start,
                const std::vector<uint32_t>& prefix, uint32_t pad, const std::function<void(Plan&)>& run,
                std::vector<Trail>* trails);

// The token a row starts from: the decoder start token, or an id past the vocabulary, which the embedding
// kernel turns into a zero vector, for models that start from a zero embedding.
inline uint32_t start_token(const ModelConfig& c) {
  return c.start_from_zero_embedding ? c.vocab_size : c.decoder_start_id;
}

}  // namespace vkformer::translate
