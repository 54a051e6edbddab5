#pragma once
#include "vkformer/context.hpp"
#include "vkformer/ops/common.hpp"
#include "vkformer/sequence.hpp"

namespace vkformer {

// Column layout of the sinusoidal encoding; frequency i is 10000^(-2i/dim).
enum class PositionLayout : uint32_t {
  half_split = 1,   // Marian / transformers: sin of frequencies 0..ceil(dim/2)-1, then cos of 0..floor(dim/2)-1
  interleaved = 2,  // Vaswani et al.: column 2i sin, column 2i+1 cos of frequency i
};

struct PositionEncoding {
  bool enabled = true;  // false: a plain scaled gather
  PositionLayout layout = PositionLayout::half_split;
  // position(row) = row % seq_len + offset + (offset_buffer ? offset_buffer[offset_index] : 0); the uint32
  // offset buffer lets a recorded decoder step read its step index at run time.
  uint32_t seq_len = 1;
  uint32_t offset = 0;
  const Buffer* offset_buffer = nullptr;
  uint32_t offset_index = 0;
};

// out[row, :] = embedding[ids[ids_offset + row], :] * scale + encoding(position(row)) for `rows` rows of
// `dim` columns; embedding is [vocab = embedding.rows, dim] of f32, f16, bf16, i8 or i16 (all blocks alike;
// i8 and i16 rows are divided by their scales, embedding.scales, first). An id >= vocab gives zeros for the
// embedding part. One dispatch per block of the table, each writing the rows whose ids fall in its block (the last
// block also those past the vocabulary): the shader binds one table buffer, within the 4 storage
// buffers every device allows.
void record_embed_position(Sequence& sequence, Context& context, const Buffer* ids, uint32_t ids_offset,
                           const RowBlocks& embedding, uint32_t dim, View out, uint32_t rows, float scale,
                           const PositionEncoding& positions = {}, std::string_view label = "embed_position");

}  // namespace vkformer
