// bf16, i8 and i16 weights (CTranslate2's): the views buffers give them, and the one-line errors of the ops
// for what they cannot run. Their results are checked by the conformance cases (test_conformance.cpp).
#include <fmt/format.h>

#include "test_context.hpp"
#include "vkformer/error.hpp"
#include "vkformer/ops/embed_position.hpp"
#include "vkformer/ops/matmul.hpp"

using namespace vkformer;

namespace {
// The message of the vkformer::Error that `record` throws, checked to be one line.
template <typename Record>
std::string error_of(Context& context, Record record) {
  Sequence sequence(context, "quantized errors");
  sequence.begin();
  std::string message;
  try {
    record(sequence);
  } catch (const Error& e) {
    message = e.what();
  }
  sequence.end();
  CHECK(message.find('\n') == std::string::npos);
  return message;
}
}  // namespace

TEST_CASE("quantized buffers have uint views of whole texels, f32 and f16 buffers vec4 views", "[ops]") {
  Context& context = testing::context_for();
  const Buffer i8(context, 10, "i8", false, Element::i8), bf16(context, 6, "bf16", false, Element::bf16);
  const Buffer f32(context, 8, "f32");
  CHECK(i8.uint_view());  // 10 bytes are allocated as one 16-byte texel: the view covers all of them
  CHECK(bf16.uint_view());
  CHECK(!i8.vec4_view());
  CHECK(!f32.uint_view());
  CHECK(f32.vec4_view());
  CHECK(element_bytes(Element::i8) == 1);
  CHECK(element_bytes(Element::i16) == 2);
  testing::require_no_validation_messages(context);
}

TEST_CASE("matmul and embed_position refuse quantized operands they cannot run, in one line", "[ops]") {
  Context& context = testing::context_for();
  const uint32_t M = 3, N = 8, K = 16;  // M = 3: the conformance cases' gemv pipeline
  const Buffer a(context, M * K * 4, "a"), c(context, M * N * 4, "c"), scales(context, N * 4, "scales");
  const Buffer small_scales(context, 4 * 4, "small scales"), i8(context, N * K, "w", false, Element::i8);
  const Buffer bf16(context, N * K * 2, "w16", false, Element::bf16), a_i8(context, M * K, "a8", false, Element::i8);
  const MatmulShape shape{.M = M, .N = N, .K = K, .b_scale = {&scales}};
  const auto matmul = [&](const Buffer& a_buffer, const Buffer& b, MatmulShape s) {
    return error_of(context,
                    [&](Sequence& sequence) { record_matmul(sequence, context, {&a_buffer}, {&b}, {}, {&c}, s); });
  };

  MatmulShape no_scales = shape;
  no_scales.b_scale = {};
  CHECK_THAT(matmul(a, i8, no_scales), Catch::Contains("i8 matrix 'w' has no scales"));
  CHECK_THAT(matmul(a, bf16, shape), Catch::Contains("bf16 matrix 'w16' takes no scales"));
  MatmulShape kn = shape;
  kn.b_transposed = false;
  CHECK_THAT(matmul(a, i8, kn), Catch::Contains("must be one matrix stored [N, K] (got [K, N])"));
  MatmulShape batched = shape;
  batched.batch = 2;
  CHECK_THAT(matmul(a, i8, batched), Catch::Contains("batch 2"));
  MatmulShape few = shape;
  few.b_scale = {&small_scales};
  CHECK_THAT(matmul(a, i8, few), Catch::Contains("must be 8 f32 values at offset 0"));
  CHECK_THAT(matmul(a_i8, i8, shape), Catch::Contains("A, C and the bias must be f32"));
  CHECK(matmul(a, i8, shape).empty());  // the same shape with its scales records

  const Buffer ids(context, M * 4, "ids"), out(context, M * K * 4, "out");
  const Buffer table(context, N * K, "table", false, Element::i8);
  const auto embed = [&](const RowBlocks& blocks) {
    return error_of(context, [&](Sequence& sequence) {
      record_embed_position(sequence, context, &ids, 0, blocks, K, {&out}, M, 1.0f, {.enabled = false});
    });
  };
  CHECK_THAT(embed({.blocks = {{&table}}, .block_rows = N, .rows = N}),
             Catch::Contains("i8 table in 1 blocks has 0 scale"));
  CHECK_THAT(embed({.blocks = {{&table}}, .scales = {{&small_scales}}, .block_rows = N, .rows = N}),
             Catch::Contains("must be 8 f32 values at offset 0"));
  CHECK(embed({.blocks = {{&table}}, .scales = {{&scales}}, .block_rows = N, .rows = N}).empty());
  testing::require_no_validation_messages(context);
}
