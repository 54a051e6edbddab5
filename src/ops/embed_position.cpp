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
  uint32_t element, scale_offset, scale_per_row;
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
  const Element element = embedding.blocks[0].buffer->element();
  const bool scaled = element == Element::i8 || element == Element::i16;
  if (scaled != !embedding.scales.empty() || (scaled && embedding.scales.size() != embedding.blocks.size())) {
    throw Error(fmt::format("{}: a {} table in {} blocks has {} scale views (i8 and i16 need one per block, other "
                            "elements none)", label, element_name(element), embedding.blocks.size(),
                            embedding.scales.size()));
  }
  const uint32_t wg = context.tuning().reduce_wg;
  const Kernel& kernel = context.kernel({.shader = "embed_position", .bindings = 5, .texel_bindings = 1u << 4,
                                         .push_constant_bytes = sizeof(Push), .specialization = {wg}});
  for (size_t b = 0; b < embedding.blocks.size(); ++b) {
    const bool last = b + 1 == embedding.blocks.size();
    const View table = embedding.blocks[b];
    if (table.buffer->element() != element) {
      throw Error(fmt::format("{}: table block {} ('{}') holds {} but block 0 holds {}", label, b,
                              table.buffer->name(), element_name(table.buffer->element()), element_name(element)));
    }
    const View scales = scaled ? embedding.scales[b] : View{table.buffer, 0};
    if (scaled) {
      const uint64_t needed = uint64_t(scales.offset) + (element == Element::i8 ? embedding.rows_in(b) : 1);
      if (!scales.buffer || scales.buffer->element() != Element::f32 || scales.buffer->bytes() < needed * 4 ||
          !scales.buffer->vec4_view()) {
        throw Error(fmt::format("{}: the scales of table block {} ('{}') must be {} f32 values at offset {} of a "
                                "buffer with a texel view", label, b, table.buffer->name(), needed - scales.offset,
                                scales.offset));
      }
    }
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
                    float(2.0 * std::log2(10000.0) / dim),
                    uint32_t(element),
                    scales.offset,
                    element == Element::i8 ? 1u : 0u};
    // ids stand in for an absent offset buffer (never read then), the table for absent scales (its view,
    // or a placeholder).
    sequence.dispatch(kernel, {ids, table.buffer, out.buffer, positions.offset_buffer ? positions.offset_buffer : ids,
                               scales.buffer},
                      push, groups_for(rows, 1), label);
  }
}

}  // namespace vkformer
