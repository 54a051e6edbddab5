#pragma once
#include "vkformer/context.hpp"
#include "vkformer/ops/common.hpp"
#include "vkformer/sequence.hpp"

namespace vkformer {

// A `banned` id that bans nothing; also the id written for a row without any candidate.
inline constexpr uint32_t kNoBannedToken = 0xFFFFFFFFu;
// The id written (in every slot, with value -FLT_MAX) for a row holding a NaN or an infinity.
inline constexpr uint32_t kNonFiniteRow = 0xFFFFFFFEu;

// ids[ids_offset + r] = index of the largest of x's row r (`cols` elements; the first on ties, like
// torch.argmax), never `banned`; values[r] = that value when values.buffer is set. A row with no
// candidate (cols == 1 and banned == 0) gives kNoBannedToken and -FLT_MAX; a row holding a NaN or an
// infinity (in any column, banned too) gives kNonFiniteRow and -FLT_MAX.
void record_argmax(Sequence& sequence, Context& context, View x, uint32_t rows, uint32_t cols, const Buffer* ids,
                   uint32_t ids_offset, View values, uint32_t banned = kNoBannedToken,
                   std::string_view label = "argmax");
// The same without the values.
void record_argmax(Sequence& sequence, Context& context, View x, uint32_t rows, uint32_t cols, const Buffer* ids,
                   uint32_t ids_offset, uint32_t banned = kNoBannedToken, std::string_view label = "argmax");

}  // namespace vkformer
