#include "vkformer/ops/embed_position.hpp"

#include <cmath>

#include <fmt/format.h>

#include "vkformer/error.hpp"

namespace vkformer {

namespace {
struct Push {
  uint32_t rows, dim, vocab, id_begin, id_end, ids_offset, embedding_offset, out_offset, seq_len, position_offset,
      use_offset_buffer, offset_index, positions;
  float scale, log2_freq_step;
};
}  // namespace

void record_embed_position(Sequence& sequence, Context& context, const Buffer* ids, uint32_t ids_offset,
                           const RowBlocks& embedding, uint32_t dim, View out, uint32_t rows, float scale,
                           const PositionEncoding& positions, std::string_view label) {
  const uint32_t vocab = embedding.rows;
  if (rows == 0 || dim == 0 || vocab == 0 || embedding.blocks.empty() || (positions.enabled && positions.seq_len == 0)) {
    throw Error(fmt::format("{}: empty shape (rows {}, dim {}, vocab {}, seq_len {})", label, rows, dim, vocab,
                            positions.seq_len));
  }
  const uint32_t wg = context.tuning().reduce_wg;
  const Kernel& kernel = context.kernel({.shader = "embed_position", .bindings = 4,
                                         .push_constant_bytes = sizeof(Push), .specialization = {wg}});
  for (size_t b = 0; b < embedding.blocks.size(); ++b) {
    const bool last = b + 1 == embedding.blocks.size();
    const View table = embedding.blocks[b];
    const Push push{rows,
                    dim,
                    vocab,
                    embedding.first_row(b),
                    last ? UINT32_MAX : embedding.first_row(b) + embedding.rows_in(b),
                    ids_offset,
                    table.offset,
                    out.offset,
                    positions.enabled ? positions.seq_len : 1u,
                    positions.offset,
                    positions.offset_buffer ? 1u : 0u,
                    positions.offset_index,
                    positions.enabled ? uint32_t(positions.layout) : 0u,
                    scale,
                    float(2.0 * std::log2(10000.0) / dim)};
    // ids stand in for an absent offset buffer (never read then).
    sequence.dispatch(kernel, {ids, table.buffer, out.buffer, positions.offset_buffer ? positions.offset_buffer : ids},
                      push, groups_for(rows, 1), label);
  }
}

}  // namespace vkformer
