#pragma once
#include "vkformer/context.hpp"
#include "vkformer/ops/common.hpp"
#include "vkformer/sequence.hpp"

namespace vkformer {

// Bit 31 of an edit entry: the token is banned (else penalized).
inline constexpr uint32_t kBanEdit = 0x80000000u;

// Words of an edits buffer for `rows` rows of at most `most` edits each: the penalty, then per row a
// count and `most` entries (the stride is 1 + most).
inline uint64_t logits_edit_words(uint32_t rows, uint32_t most) { return 1 + uint64_t(rows) * (1 + most); }

// Per row r of x [rows, cols]: out = x, or x - logsumexp(row) with `log_softmax`; then each of the row's
// edits (shaders/logits_edit.comp): for token t, out[t] = -FLT_MAX if banned, else penalized by P:
// out[t] * P below 0, out[t] / P otherwise. `edits` (uint32) holds P's float bits at edits_offset, then
// `stride` words per row from edits_offset + 1: a count and that many entries, each a token id below
// cols, | kBanEdit for a ban, distinct within the row. `out` may alias `x`.
void record_logits_edit(Sequence& sequence, Context& context, View x, View out, uint32_t rows, uint32_t cols,
                        const Buffer* edits, uint32_t edits_offset, uint32_t stride, bool log_softmax,
                        std::string_view label = "logits edit");

}  // namespace vkformer
