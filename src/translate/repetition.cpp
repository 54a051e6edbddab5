#include "repetition.hpp"

#include <algorithm>
#include <bit>

#include "vkformer/error.hpp"
#include "vkformer/ops/logits_edit.hpp"

namespace vkformer::translate {

std::vector<uint32_t> repetition_edits(std::span<const uint32_t> history, float penalty, uint32_t ngram_size) {
  std::vector<uint32_t> edits;
  if (penalty != 1.0f) {
    // Each token once: a repeated token is penalized once, as both runtimes gather then scatter.
    edits.assign(history.begin(), history.end());
    std::sort(edits.begin(), edits.end());
    edits.erase(std::unique(edits.begin(), edits.end()), edits.end());
  }
  if (ngram_size == 0 || history.size() < ngram_size) return edits;
  const size_t n = ngram_size, length = history.size();
  const auto suffix = history.subspan(length - (n - 1));
  for (size_t i = 0; i + n <= length; ++i) {
    if (!std::equal(suffix.begin(), suffix.end(), history.begin() + long(i))) continue;
    const uint32_t token = history[i + n - 1];
    const auto at = std::lower_bound(edits.begin(), edits.end(), token,
                                     [](uint32_t entry, uint32_t id) { return (entry & ~kBanEdit) < id; });
    if (at != edits.end() && (*at & ~kBanEdit) == token) {
      *at = token | kBanEdit;  // a ban overrides the penalty
    } else {
      edits.insert(at, token | kBanEdit);
    }
  }
  return edits;
}

RepetitionRules::RepetitionRules(const DecodeOptions& options, const ModelConfig& config)
    : penalty_(options.repetition_penalty), ngram_size_(options.no_repeat_ngram_size) {
  if (penalty_ == 1.0f && ngram_size_ == 0) {
    mode_ = Edits::none;
  } else if (config.ctranslate2_decoding) {
    mode_ = Edits::logits;
  } else {
    mode_ = options.beam > 1 ? Edits::log_probs : Edits::logits;
    first_ = {config.decoder_start_id};
  }
}

void RepetitionRules::start(const Rows& rows, const std::vector<uint32_t>& prefix) {
  if (mode_ == Edits::none) return;
  auto history = first_;
  history.insert(history.end(), prefix.begin(), prefix.end());
  histories_.assign(rows.size(), history);
}

Plan& RepetitionRules::step(Workspace& ws, uint32_t bucket, uint32_t top_k, bool ban_end, bool scores) const {
  if (mode_ == Edits::none) return ws.decoder(bucket, top_k, ban_end, Edits::none, scores);
  uint32_t* words = ws.edits();
  words[0] = std::bit_cast<uint32_t>(penalty_);
  const uint32_t stride = ws.edits_stride();
  for (uint32_t j = 0; j < bucket; ++j) {
    uint32_t* row = words + 1 + size_t(j) * stride;
    if (j >= histories_.size()) {
      row[0] = 0;  // a padding row
      continue;
    }
    const auto edits = repetition_edits(histories_[j], penalty_, ngram_size_);
    if (edits.size() >= stride) throw Error("a decoder row's history outgrew its logit edits");
    row[0] = uint32_t(edits.size());
    std::copy(edits.begin(), edits.end(), row + 1);
  }
  return ws.decoder(bucket, top_k, ban_end, mode_, scores);
}

void RepetitionRules::advance(const Rows& next) {
  if (mode_ == Edits::none) return;
  std::vector<std::vector<uint32_t>> histories(next.size());
  for (size_t j = 0; j < next.size(); ++j) {
    histories[j] = histories_[next.parents[j]];
    histories[j].push_back(next.tokens[j]);
  }
  histories_ = std::move(histories);
}

}  // namespace vkformer::translate
