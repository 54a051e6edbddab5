#pragma once
// Model weights on the device, arranged for the kernels: q, k and v projections as one [3D, D] matrix (one
// matmul per self-attention), cross-attention k and v as one [2D, D]. Matrices and embedding tables stay in
// the element their file stores (f32, f16, bf16, or i8 / i16 with f32 scales: the kernels dequantize), unless
// a precision is asked for: then the projection and output matrices are converted on load (f32; f16 where
// their rows are whole vec4 texels; i8 quantized per row as CTranslate2 does, embeddings too), a tied output
// matrix getting its own copy, and embeddings stay as stored (but under i8). Biases, norms and position tables are f32. The embeddings and
// the output matrix (vocabulary x d_model: 238 MB for 58k x 1024 in f32) are stored in row blocks within
// the device's per-buffer limits.
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "vkformer/buffer.hpp"
#include "vkformer/context.hpp"
#include "vkformer/model/model.hpp"
#include "vkformer/ops/common.hpp"

namespace vkformer::translate {

struct Linear {
  View weight, bias;  // weight [out, in] (nn.Linear layout), bias [out]
  View scale;         // i8: [out], i16: [1]; else none
  uint32_t out = 0, in = 0;
};

// The output projection [vocab, d_model] in row blocks: one matmul per block writes its logit columns.
struct Output {
  RowBlocks weight;
  View bias;  // [vocab]
  uint32_t in = 0;
};

struct Norm {
  View gamma, beta;  // none where the model has no such norm
};

struct EncoderLayer {
  Linear qkv, out;
  Norm attention_norm;
  Linear fc1, fc2;
  Norm ffn_norm;
};

struct DecoderLayer {
  Linear qkv, self_out;
  Norm self_norm;
  Linear cross_q, cross_kv, cross_out;
  Norm cross_norm;
  Linear fc1, fc2;
  Norm ffn_norm;
};

class Weights {
 public:
  // matrices: nullopt keeps every weight as stored; f32, f16 or i8 converts the projection and output matrices.
  Weights(Context& context, const ModelSource& source, std::optional<Element> matrices = std::nullopt);

  const ModelConfig& config() const { return config_; }
  RowBlocks encoder_embedding, decoder_embedding;
  RowBlocks encoder_positions, decoder_positions;  // config().position_table: [max_positions, d_model]
  Output output;  // the decoder embedding's buffers where tied and stored alike
  std::vector<EncoderLayer> encoder;
  std::vector<DecoderLayer> decoder;
  Norm encoder_norm, decoder_norm;  // the final norms of pre-norm stacks
  // Bytes of every weight buffer (scales included), each shared buffer once.
  uint64_t bytes() const;

 private:
  View upload(Context& context, std::span<const float> values, const std::string& name);
  View store(Context& context, std::span<const uint8_t> bytes, Element element, const std::string& name);
  // A weight of `cols` columns in the element it will be kept in: as stored, or converted as asked.
  StoredWeight prepared(StoredWeight weight, uint32_t cols, bool convert) const;
  // A [rows, cols] table in as few row blocks as the device's per-buffer limits allow.
  RowBlocks upload_rows(Context& context, const StoredWeight& table, uint32_t cols, const std::string& name);
  Linear linear(Context& context, const ModelSource& source, const std::string& prefix, uint32_t out, uint32_t in,
                const std::string& name);
  Norm norm(Context& context, const ModelSource& source, const std::string& prefix);

  ModelConfig config_;
  std::optional<Element> matrices_;
  bool f16_texels_;  // the device reads R16G16B16A16_SFLOAT texel buffers
  std::vector<std::unique_ptr<Buffer>> buffers_;
};

}  // namespace vkformer::translate
