#include "weights.hpp"

#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "vkformer/error.hpp"
#include "vkformer/half.hpp"

namespace vkformer::translate {

namespace {

template <typename T>
T at(const std::vector<uint8_t>& bytes, size_t i) {
  T v;
  std::memcpy(&v, bytes.data() + i * sizeof(T), sizeof(T));
  return v;
}

// The weight's values as f32 (i8 and i16 dequantized: w = q / scale).
std::vector<float> to_floats(const StoredWeight& w, uint32_t cols) {
  const size_t count = w.bytes.size() / element_bytes(w.element);
  std::vector<float> values(count);
  for (size_t i = 0; i < count; ++i) {
    switch (w.element) {
      case Element::f32: values[i] = at<float>(w.bytes, i); break;
      case Element::f16: values[i] = half_to_float(at<uint16_t>(w.bytes, i)); break;
      case Element::bf16: {
        const uint32_t bits = uint32_t(at<uint16_t>(w.bytes, i)) << 16;
        std::memcpy(&values[i], &bits, 4);
        break;
      }
      case Element::i8: values[i] = float(at<int8_t>(w.bytes, i)) / w.scales.at(i / cols); break;
      case Element::i16: values[i] = float(at<int16_t>(w.bytes, i)) / w.scales.at(0); break;
    }
  }
  return values;
}

StoredWeight from_floats(const std::vector<float>& values) {
  StoredWeight w{.element = Element::f32, .bytes = std::vector<uint8_t>(values.size() * 4)};
  std::memcpy(w.bytes.data(), values.data(), w.bytes.size());
  return w;
}

// CTranslate2's int8 quantization (model_spec.py): per row, scale = 127 / max|w| (127 for a zero row) and
// q = round-half-even(w * scale).
StoredWeight quantize_i8(const std::vector<float>& values, uint32_t cols) {
  const size_t rows = values.size() / cols;
  StoredWeight w{.element = Element::i8, .bytes = std::vector<uint8_t>(values.size()), .scales = std::vector<float>(rows)};
  for (size_t r = 0; r < rows; ++r) {
    float amax = 0.0f;
    for (uint32_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(values[r * cols + c]));
    const float scale = amax == 0.0f ? 127.0f : 127.0f / amax;
    w.scales[r] = scale;
    for (uint32_t c = 0; c < cols; ++c) {
      const auto q = int8_t(std::nearbyint(values[r * cols + c] * scale));
      std::memcpy(&w.bytes[r * cols + c], &q, 1);
    }
  }
  return w;
}

// The most bytes one table buffer of `element` may have: bindable as a storage buffer, allocatable, and
// within the texel buffer elements of its view (4 elements a texel).
uint64_t max_table_bytes(const DeviceInfo& info, Element element) {
  uint64_t bytes = info.max_storage_buffer_range;
  if (info.max_allocation_size) bytes = std::min(bytes, info.max_allocation_size);
  const uint64_t texel_bytes = 4 * element_bytes(element);
  if (info.max_texel_buffer_elements) bytes = std::min(bytes, info.max_texel_buffer_elements * texel_bytes);
  return bytes;
}

}  // namespace

View Weights::store(Context& context, std::span<const uint8_t> bytes, Element element, const std::string& name) {
  buffers_.push_back(std::make_unique<Buffer>(context, bytes.size(), name, false, element));
  buffers_.back()->upload(bytes);
  return {buffers_.back().get(), 0};
}

View Weights::upload(Context& context, std::span<const float> values, const std::string& name) {
  return store(context, {reinterpret_cast<const uint8_t*>(values.data()), values.size_bytes()}, Element::f32, name);
}

StoredWeight Weights::prepared(StoredWeight weight, uint32_t cols, bool convert) const {
  const std::optional<Element> wanted = convert ? matrices_ : std::nullopt;
  Element target = wanted.value_or(weight.element);
  // f16 is read through vec4 texels, so only whole-texel rows on a device with f16 texel buffers; the
  // others fall back to f32.
  if (target == Element::f16 && (cols % 4 != 0 || !f16_texels_)) target = Element::f32;
  if (target == weight.element) return weight;
  const auto values = to_floats(weight, cols);
  if (target == Element::i8) return quantize_i8(values, cols);
  if (target == Element::f16) {
    StoredWeight half{.element = Element::f16, .bytes = std::vector<uint8_t>(values.size() * 2)};
    for (size_t i = 0; i < values.size(); ++i) {
      const uint16_t h = float_to_half(values[i]);
      std::memcpy(&half.bytes[i * 2], &h, 2);
    }
    return half;
  }
  if (target != Element::f32) throw Error(fmt::format("weights cannot be converted to {}", element_name(target)));
  return from_floats(values);
}

RowBlocks Weights::upload_rows(Context& context, const StoredWeight& table, uint32_t cols, const std::string& name) {
  const uint64_t row_bytes = uint64_t(cols) * element_bytes(table.element);
  const uint64_t most_rows = max_table_bytes(context.info(), table.element) / row_bytes;
  if (most_rows == 0) {
    throw Error(fmt::format("'{}': a row of {} bytes is more than '{}' allows in one buffer", name, row_bytes,
                            context.info().name));
  }
  const uint32_t rows = uint32_t(table.bytes.size() / row_bytes), blocks = ceil_div(rows, most_rows);
  RowBlocks out{.block_rows = ceil_div(rows, blocks), .rows = rows};  // blocks of even size
  for (uint32_t b = 0; b < blocks; ++b) {
    const std::string part_name = blocks == 1 ? name : fmt::format("{} block {}", name, b);
    const std::span<const uint8_t> part(table.bytes.data() + out.first_row(b) * row_bytes, out.rows_in(b) * row_bytes);
    out.blocks.push_back(store(context, part, table.element, part_name));
    if (table.element == Element::i8) {
      out.scales.push_back(upload(context, std::span(table.scales).subspan(out.first_row(b), out.rows_in(b)),
                                  part_name + " scales"));
    } else if (table.element == Element::i16) {
      out.scales.push_back(upload(context, table.scales, part_name + " scale"));
    }
  }
  return out;
}

Linear Weights::linear(Context& context, const ModelSource& source, const std::string& prefix, uint32_t out,
                       uint32_t in, const std::string& name) {
  const auto weight = prepared(source.stored_weight(prefix + ".weight", {out, in}), in, true);
  Linear l{.weight = store(context, weight.bytes, weight.element, name + ".weight"),
           .bias = upload(context, source.weight(prefix + ".bias", {out}), name + ".bias"),
           .out = out,
           .in = in};
  if (!weight.scales.empty()) l.scale = upload(context, weight.scales, name + ".weight_scale");
  return l;
}

Norm Weights::norm(Context& context, const ModelSource& source, const std::string& prefix) {
  const uint32_t d = config_.d_model;
  return {upload(context, source.weight(prefix + ".weight", {d}), prefix + ".weight"),
          upload(context, source.weight(prefix + ".bias", {d}), prefix + ".bias")};
}

uint64_t Weights::bytes() const {
  uint64_t total = 0;
  for (const auto& buffer : buffers_) total += buffer->bytes();
  return total;
}

Weights::Weights(Context& context, const ModelSource& source, std::optional<Element> matrices)
    : config_(source.config()), matrices_(matrices), f16_texels_(context.info().f16_texel_buffers) {
  if (matrices_ && *matrices_ != Element::f32 && *matrices_ != Element::f16 && *matrices_ != Element::i8) {
    throw Error(fmt::format("weights can be converted to f32, f16 or i8, not {}", element_name(*matrices_)));
  }
  const uint32_t d = config_.d_model, v = config_.vocab_size;
  const uint32_t source_v = config_.source_vocab_size ? config_.source_vocab_size : v;
  // Embeddings stay as stored, except under i8, which quantizes them as CTranslate2's int8 does.
  const bool quantize = matrices_ == Element::i8;
  const auto encoder_table = prepared(source.stored_weight("encoder.embed_tokens.weight", {source_v, d}), d, quantize);
  const auto decoder_table = prepared(source.stored_weight("decoder.embed_tokens.weight", {v, d}), d, quantize);
  const auto output_table = prepared(source.stored_weight("lm_head.weight", {v, d}), d, true);
  const auto same = [](const StoredWeight& a, const StoredWeight& b) {
    return a.element == b.element && a.bytes == b.bytes && a.scales == b.scales;
  };
  encoder_embedding = upload_rows(context, encoder_table, d, "encoder.embed_tokens");
  // Shared and tied tables are uploaded once.
  decoder_embedding = same(decoder_table, encoder_table) ? encoder_embedding
                                                         : upload_rows(context, decoder_table, d, "decoder.embed_tokens");
  output.weight = same(output_table, decoder_table) ? decoder_embedding : upload_rows(context, output_table, d, "lm_head");
  output.bias = upload(context, source.weight("final_logits_bias", {1, v}), "final_logits_bias");
  output.in = d;
  if (config_.position_table) {
    const uint32_t p = config_.max_positions;
    encoder_positions = upload_rows(context, from_floats(source.weight("encoder.embed_positions.weight", {p, d})), d,
                                    "encoder.embed_positions");
    decoder_positions = upload_rows(context, from_floats(source.weight("decoder.embed_positions.weight", {p, d})), d,
                                    "decoder.embed_positions");
  }
  if (config_.encoder_final_norm) encoder_norm = norm(context, source, "encoder.layer_norm");
  if (config_.decoder_final_norm) decoder_norm = norm(context, source, "decoder.layer_norm");

  for (uint32_t l = 0; l < config_.encoder_layers; ++l) {
    const std::string p = fmt::format("encoder.layers.{}.", l);
    const uint32_t f = config_.encoder_ffn;
    encoder.push_back({
        .qkv = linear(context, source, p + "self_attn.qkv_proj", 3 * d, d, p + "qkv"),
        .out = linear(context, source, p + "self_attn.out_proj", d, d, p + "out_proj"),
        .attention_norm = norm(context, source, p + "self_attn_layer_norm"),
        .fc1 = linear(context, source, p + "fc1", f, d, p + "fc1"),
        .fc2 = linear(context, source, p + "fc2", d, f, p + "fc2"),
        .ffn_norm = norm(context, source, p + "final_layer_norm"),
    });
  }
  for (uint32_t l = 0; l < config_.decoder_layers; ++l) {
    const std::string p = fmt::format("decoder.layers.{}.", l);
    const uint32_t f = config_.decoder_ffn;
    decoder.push_back({
        .qkv = linear(context, source, p + "self_attn.qkv_proj", 3 * d, d, p + "qkv"),
        .self_out = linear(context, source, p + "self_attn.out_proj", d, d, p + "self_out"),
        .self_norm = norm(context, source, p + "self_attn_layer_norm"),
        .cross_q = linear(context, source, p + "encoder_attn.q_proj", d, d, p + "cross_q"),
        .cross_kv = linear(context, source, p + "encoder_attn.kv_proj", 2 * d, d, p + "cross_kv"),
        .cross_out = linear(context, source, p + "encoder_attn.out_proj", d, d, p + "cross_out"),
        .cross_norm = norm(context, source, p + "encoder_attn_layer_norm"),
        .fc1 = linear(context, source, p + "fc1", f, d, p + "fc1"),
        .fc2 = linear(context, source, p + "fc2", d, f, p + "fc2"),
        .ffn_norm = norm(context, source, p + "final_layer_norm"),
    });
  }
}

}  // namespace vkformer::translate
