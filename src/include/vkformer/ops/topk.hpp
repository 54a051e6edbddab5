#pragma once
#include "vkformer/context.hpp"
#include "vkformer/ops/argmax.hpp"
#include "vkformer/ops/common.hpp"
#include "vkformer/sequence.hpp"

namespace vkformer {

inline constexpr uint32_t kMaxTopK = 16;

// Per row r of x (`cols` elements): the k largest values (1 <= k <= min(16, cols)), sorted descending,
// ties to the lower id, never `banned`: ids[ids_offset + r*k + i] (uint32) and values[r*k + i]. With
// `log_softmax` the values are value - logsumexp(row), over all columns including the banned one unless
// not banned_in_sum (as if its logit were -inf: CTranslate2's minimum decoding length). Slots
// left without a candidate (only when banning leaves fewer than k) get kNoBannedToken and -FLT_MAX; every
// slot of a row holding a NaN or an infinity (in any column) gets kNonFiniteRow and -FLT_MAX.
void record_topk(Sequence& sequence, Context& context, View x, uint32_t rows, uint32_t cols, uint32_t k,
                 const Buffer* ids, uint32_t ids_offset, View values, bool log_softmax,
                 uint32_t banned = kNoBannedToken, std::string_view label = "topk", bool banned_in_sum = true);

}  // namespace vkformer
