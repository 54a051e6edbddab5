#include <cmath>

#include <fmt/format.h>

#include "cases.hpp"
#include "check.hpp"
#include "vkformer/half.hpp"
#include "vkformer/ops/embed_position.hpp"

namespace vkformer::conformance {

// A gather scaled once: one fp32 rounding.
static constexpr Tolerance kGatherTolerance{.max_rel = 1e-6, .nmse = 1e-13};
// The encoding's angle pos * 10000^(-2i/d) is formed in fp32: its rounding (about ulp(pos) / 2, plus a few
// ulp of the frequency times pos) reaches ~1e-4 radian at positions up to 1024.
static constexpr Tolerance kPositionTolerance{.max_rel = 3e-4, .nmse = 1e-8};

namespace {
struct Shape {
  uint32_t batch, seq_len, dim;
  bool positions = true;
  PositionLayout layout = PositionLayout::half_split;
  uint32_t offset = 0;
  uint32_t runtime_offset = 0;  // read from the offset buffer when non-zero
  uint32_t blocks = 1;          // the table in this many row blocks, each its own buffer (the last shorter)
  Element table = Element::f32;  // f16, or CTranslate2's bf16, i8 and i16 (quantized_matrix)
};
}  // namespace

// Written like transformers' MarianSinusoidalPositionalEmbedding (half split) and Vaswani et al. §3.5.
static double encoding_reference(uint64_t position, uint32_t j, uint32_t dim, PositionLayout layout) {
  auto angle = [&](uint32_t column) {  // position / 10000^(2 * (column // 2) / dim)
    return double(position) / std::pow(10000.0, 2.0 * (column / 2) / dim);
  };
  if (layout == PositionLayout::interleaved) return j % 2 == 0 ? std::sin(angle(j)) : std::cos(angle(j));
  const uint32_t sentinel = dim % 2 == 0 ? dim / 2 : dim / 2 + 1;
  // out[:, :sentinel] = sin(enc[:, 0::2]); out[:, sentinel:] = cos(enc[:, 1::2])
  return j < sentinel ? std::sin(angle(2 * j)) : std::cos(angle(2 * (j - sentinel) + 1));
}

static Result run_embed(Context& context, const Shape& s) {
  const uint32_t vocab = 50, rows = s.batch * s.seq_len;
  const float scale = std::sqrt(float(s.dim));
  std::vector<double> embedding;
  QuantizedMatrix quantized;
  if (integer_element(s.table)) {
    quantized = quantized_matrix(s.table, vocab, s.dim, 31 + s.dim);
    embedding = quantized.values;
  } else {
    for (float value : random_values(size_t(vocab) * s.dim, 31 + s.dim, 1.0f)) {
      embedding.push_back(s.table == Element::f16 ? half_to_float(float_to_half(value)) : value);
    }
  }
  std::vector<uint32_t> ids(rows + 5);
  std::mt19937 generator(32 + s.dim);
  for (auto& id : ids) id = generator() % (vocab + 4);  // a few past the vocabulary
  const uint32_t ids_offset = 5;

  std::vector<double> expected(size_t(rows) * s.dim);
  for (uint32_t r = 0; r < rows; ++r) {
    const uint32_t id = ids[ids_offset + r];
    const uint64_t position = r % s.seq_len + s.offset + s.runtime_offset;
    for (uint32_t j = 0; j < s.dim; ++j) {
      double v = id < vocab ? embedding[size_t(id) * s.dim + j] * scale : 0.0;
      if (s.positions) v += encoding_reference(position, j, s.dim, s.layout);
      expected[size_t(r) * s.dim + j] = v;
    }
  }

  Buffer ids_buffer(context, ids.size() * sizeof(uint32_t), "ids");
  ids_buffer.upload(std::span<const uint32_t>(ids));
  const std::vector<uint32_t> offsets{0, 0, s.runtime_offset};
  Buffer offset_buffer(context, offsets.size() * sizeof(uint32_t), "step");
  offset_buffer.upload(std::span<const uint32_t>(offsets));
  const uint32_t block_rows = ceil_div(vocab, s.blocks);
  std::vector<Buffer> table_buffers;
  RowBlocks table{.block_rows = block_rows, .rows = vocab};
  for (uint32_t b = 0; b < s.blocks; ++b) {
    const size_t first = size_t(table.first_row(b)) * s.dim, count = size_t(table.rows_in(b)) * s.dim;
    const std::string name = fmt::format("embedding block {}", b);
    if (integer_element(s.table)) {
      const size_t bytes = element_bytes(s.table);
      QuantizedMatrix part{.element = s.table};
      const auto begin = quantized.raw.begin() + ptrdiff_t(first * bytes);
      part.raw.assign(begin, begin + ptrdiff_t(count * bytes));
      table_buffers.push_back(guarded_quantized_buffer(context, part, 0, name));
    } else {
      const std::vector<float> part(embedding.begin() + ptrdiff_t(first), embedding.begin() + ptrdiff_t(first + count));
      table_buffers.push_back(s.table == Element::f16 ? guarded_f16_buffer(context, part, name)
                                                      : guarded_buffer(context, part, name));
    }
  }
  for (const Buffer& buffer : table_buffers) table.blocks.push_back({&buffer, kGuard});
  // All blocks' scales in one buffer, each block's view at its first row (i8) or at the one scale (i16).
  Buffer scale_buffer;
  if (!quantized.scales.empty()) {
    scale_buffer = guarded_buffer(context, quantized.scales, "embedding scales");
    for (uint32_t b = 0; b < s.blocks; ++b) {
      table.scales.push_back({&scale_buffer, kGuard + (s.table == Element::i8 ? table.first_row(b) : 0)});
    }
  }
  Buffer out = guarded_output(context, expected.size(), "out");
  Sequence sequence(context, "conformance embed_position", true);
  run_once(context, sequence, [&](Sequence& seq) {
    const PositionEncoding positions{.enabled = s.positions, .layout = s.layout, .seq_len = s.seq_len,
                                     .offset = s.offset,
                                     .offset_buffer = s.runtime_offset ? &offset_buffer : nullptr,
                                     .offset_index = 2};
    record_embed_position(seq, context, &ids_buffer, ids_offset, table, s.dim, {&out, kGuard}, rows, scale, positions);
  });
  std::string op = !s.positions ? "embed" : s.layout == PositionLayout::half_split ? "embed+pos_half" : "embed+pos_inter";
  std::string split = s.blocks > 1 ? fmt::format(" table in {} blocks", s.blocks) : "";
  if (s.table != Element::f32) split += fmt::format(" {}", element_name(s.table));
  return finish(op, fmt::format("{}x{}x{} @{}+{}{}", s.batch, s.seq_len, s.dim, s.offset, s.runtime_offset, split),
                compare_guarded(out, expected), s.positions ? kPositionTolerance : kGatherTolerance, sequence);
}

std::vector<Case> embed_position_cases() {
  std::vector<Shape> shapes;
  for (uint32_t dim : {1u, 2u, 7u, 64u, 512u, 513u}) {
    shapes.push_back({.batch = 2, .seq_len = 9, .dim = dim, .positions = false});
    for (auto layout : {PositionLayout::half_split, PositionLayout::interleaved}) {
      shapes.push_back({.batch = 2, .seq_len = 9, .dim = dim, .layout = layout});
      shapes.push_back({.batch = 3, .seq_len = 24, .dim = dim, .layout = layout, .offset = 1000});
      shapes.push_back({.batch = 4, .seq_len = 1, .dim = dim, .layout = layout, .offset = 3, .runtime_offset = 1020});
    }
  }
  // Tables split in row blocks (big vocabularies): 3 blocks of 17, 17 and 16 rows; 8 of 7 rows and one of 1.
  for (uint32_t dim : {7u, 64u, 513u}) {
    for (uint32_t blocks : {3u, 8u}) {
      shapes.push_back({.batch = 3, .seq_len = 24, .dim = dim, .positions = false, .blocks = blocks});
      shapes.push_back({.batch = 4, .seq_len = 1, .dim = dim, .offset = 3, .runtime_offset = 1020, .blocks = blocks});
    }
  }
  // Tables of every other element: one block with positions, and 3 blocks (i8: each its rows' scales).
  for (const Element table : {Element::f16, Element::bf16, Element::i8, Element::i16}) {
    shapes.push_back({.batch = 2, .seq_len = 9, .dim = 7, .runtime_offset = 5, .table = table});
    shapes.push_back({.batch = 3, .seq_len = 24, .dim = 513, .positions = false, .blocks = 3, .table = table});
  }
  std::vector<Case> cases;
  for (const auto& shape : shapes) {
    cases.push_back(
        {"embed_position", fmt::format("{}", shape.dim), [=](Context& context) { return run_embed(context, shape); }});
  }
  return cases;
}

}  // namespace vkformer::conformance
