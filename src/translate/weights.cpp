#include "weights.hpp"

#include <fmt/format.h>

#include "vkformer/half.hpp"

namespace vkformer::translate {

template <typename T>
View Weights::store(Context& context, std::span<const T> values, const std::string& name, Element element) {
  buffers_.push_back(std::make_unique<Buffer>(context, values.size_bytes(), name, false, element));
  buffers_.back()->upload(values);
  return {buffers_.back().get(), 0};
}

View Weights::upload(Context& context, const std::vector<float>& values, const std::string& name) {
  return store(context, std::span<const float>(values), name, Element::f32);
}

View Weights::upload_matrix(Context& context, const std::vector<float>& values, uint32_t in, const std::string& name) {
  if (matrices_ != Element::f16 || in % 4 != 0) return upload(context, values, name);
  std::vector<uint16_t> halves(values.size());
  for (size_t i = 0; i < values.size(); ++i) halves[i] = float_to_half(values[i]);
  return store(context, std::span<const uint16_t>(halves), name, Element::f16);
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
  encoder_embedding = upload(context, encoder_table, "encoder.embed_tokens");
  // Shared and tied tables are uploaded once.
  decoder_embedding = decoder_table == encoder_table ? encoder_embedding
                                                      : upload(context, decoder_table, "decoder.embed_tokens");
  // The embedding kernel reads f32, so under f16 a tied output matrix gets its own f16 copy.
  const bool f16_output = matrices_ == Element::f16 && d % 4 == 0;
  output.weight = output_table == decoder_table && !f16_output ? decoder_embedding
                                                               : upload_matrix(context, output_table, d, "lm_head");
  output.bias = upload(context, source.weight("final_logits_bias", {1, v}), "final_logits_bias");
  output.out = v;
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
