#include "weights.hpp"

#include <fmt/format.h>

#include "vkformer/error.hpp"
#include "vkformer/half.hpp"

namespace vkformer::translate {

template <typename T>
View Weights::store(Context& context, std::span<const T> values, const std::string& name, Element element) {
  buffers_.push_back(std::make_unique<Buffer>(context, values.size_bytes(), name, false, element));
  buffers_.back()->upload(values);
  return {buffers_.back().get(), 0};
}

View Weights::upload(Context& context, std::span<const float> values, const std::string& name) {
  return store(context, values, name, Element::f32);
}

View Weights::upload_matrix(Context& context, std::span<const float> values, uint32_t in, const std::string& name) {
  if (matrices_ != Element::f16 || in % 4 != 0) return upload(context, values, name);
  std::vector<uint16_t> halves(values.size());
  for (size_t i = 0; i < values.size(); ++i) halves[i] = float_to_half(values[i]);
  return store(context, std::span<const uint16_t>(halves), name, Element::f16);
}

// The most bytes one table buffer may have: bindable as a storage buffer, allocatable, and (for matmul's
// vec4 loads) within the texel buffer elements of its view.
static uint64_t max_table_bytes(const DeviceInfo& info, Element element) {
  uint64_t bytes = info.max_storage_buffer_range;
  if (info.max_allocation_size) bytes = std::min(bytes, info.max_allocation_size);
  const uint64_t texel_bytes = element == Element::f16 ? 8 : 16;
  if (info.max_texel_buffer_elements) bytes = std::min(bytes, info.max_texel_buffer_elements * texel_bytes);
  return bytes;
}

RowBlocks Weights::upload_rows(Context& context, const std::vector<float>& values, uint32_t cols,
                               const std::string& name, bool matrix) {
  const Element element = matrix && matrices_ == Element::f16 && cols % 4 == 0 ? Element::f16 : Element::f32;
  const uint64_t row_bytes = uint64_t(cols) * (element == Element::f16 ? 2 : 4);
  const uint64_t most_rows = max_table_bytes(context.info(), element) / row_bytes;
  if (most_rows == 0) {
    throw Error(fmt::format("'{}': a row of {} bytes is more than '{}' allows in one buffer", name, row_bytes,
                            context.info().name));
  }
  const uint32_t rows = uint32_t(values.size() / cols), blocks = ceil_div(rows, most_rows);
  RowBlocks table{.block_rows = ceil_div(rows, blocks), .rows = rows};  // blocks of even size
  for (uint32_t b = 0; b < blocks; ++b) {
    const std::span<const float> part(values.data() + size_t(table.first_row(b)) * cols, size_t(table.rows_in(b)) * cols);
    const std::string part_name = blocks == 1 ? name : fmt::format("{} block {}", name, b);
    table.blocks.push_back(matrix ? upload_matrix(context, part, cols, part_name) : upload(context, part, part_name));
  }
  return table;
}

// Several projections with the same input (q, k, v) stacked along the output dimension.
Linear Weights::linear(Context& context, const ModelSource& source, const std::vector<std::string>& prefixes,
                       uint32_t out, uint32_t in, const std::string& name) {
  std::vector<float> weight, bias;
  for (const auto& prefix : prefixes) {
    auto w = source.weight(prefix + ".weight", {out, in});
    auto b = source.weight(prefix + ".bias", {out});
    weight.insert(weight.end(), w.begin(), w.end());
    bias.insert(bias.end(), b.begin(), b.end());
  }
  const uint32_t total = out * uint32_t(prefixes.size());
  return {upload_matrix(context, weight, in, name + ".weight"), upload(context, bias, name + ".bias"), total, in};
}

Norm Weights::norm(Context& context, const ModelSource& source, const std::string& prefix) {
  const uint32_t d = config_.d_model;
  return {upload(context, source.weight(prefix + ".weight", {d}), prefix + ".weight"),
          upload(context, source.weight(prefix + ".bias", {d}), prefix + ".bias")};
}

Weights::Weights(Context& context, const ModelSource& source, Element matrices)
    : config_(source.config()), matrices_(matrices) {
  const uint32_t d = config_.d_model, v = config_.vocab_size;
  const auto encoder_table = source.weight("encoder.embed_tokens.weight", {v, d});
  const auto decoder_table = source.weight("decoder.embed_tokens.weight", {v, d});
  const auto output_table = source.weight("lm_head.weight", {v, d});
  encoder_embedding = upload_rows(context, encoder_table, d, "encoder.embed_tokens", false);
  // Shared and tied tables are uploaded once.
  decoder_embedding = decoder_table == encoder_table
                          ? encoder_embedding
                          : upload_rows(context, decoder_table, d, "decoder.embed_tokens", false);
  // The embedding kernel reads f32, so under f16 a tied output matrix gets its own f16 copy.
  const bool f16_output = matrices_ == Element::f16 && d % 4 == 0;
  output.weight = output_table == decoder_table && !f16_output ? decoder_embedding
                                                               : upload_rows(context, output_table, d, "lm_head", true);
  output.bias = upload(context, source.weight("final_logits_bias", {1, v}), "final_logits_bias");
  output.in = d;

  for (uint32_t l = 0; l < config_.encoder_layers; ++l) {
    const std::string p = fmt::format("encoder.layers.{}.", l);
    const uint32_t f = config_.encoder_ffn;
    encoder.push_back({
        .qkv = linear(context, source, {p + "self_attn.q_proj", p + "self_attn.k_proj", p + "self_attn.v_proj"}, d, d, p + "qkv"),
        .out = linear(context, source, {p + "self_attn.out_proj"}, d, d, p + "out_proj"),
        .attention_norm = norm(context, source, p + "self_attn_layer_norm"),
        .fc1 = linear(context, source, {p + "fc1"}, f, d, p + "fc1"),
        .fc2 = linear(context, source, {p + "fc2"}, d, f, p + "fc2"),
        .ffn_norm = norm(context, source, p + "final_layer_norm"),
    });
  }
  for (uint32_t l = 0; l < config_.decoder_layers; ++l) {
    const std::string p = fmt::format("decoder.layers.{}.", l);
    const uint32_t f = config_.decoder_ffn;
    decoder.push_back({
        .qkv = linear(context, source, {p + "self_attn.q_proj", p + "self_attn.k_proj", p + "self_attn.v_proj"}, d, d, p + "qkv"),
        .self_out = linear(context, source, {p + "self_attn.out_proj"}, d, d, p + "self_out"),
        .self_norm = norm(context, source, p + "self_attn_layer_norm"),
        .cross_q = linear(context, source, {p + "encoder_attn.q_proj"}, d, d, p + "cross_q"),
        .cross_kv = linear(context, source, {p + "encoder_attn.k_proj", p + "encoder_attn.v_proj"}, d, d, p + "cross_kv"),
        .cross_out = linear(context, source, {p + "encoder_attn.out_proj"}, d, d, p + "cross_out"),
        .cross_norm = norm(context, source, p + "encoder_attn_layer_norm"),
        .fc1 = linear(context, source, {p + "fc1"}, f, d, p + "fc1"),
        .fc2 = linear(context, source, {p + "fc2"}, d, f, p + "fc2"),
        .ffn_norm = norm(context, source, p + "final_layer_norm"),
    });
  }
}

}  // namespace vkformer::translate
