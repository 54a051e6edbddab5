#pragma once
// Model weights on the device, arranged for the kernels: q, k and v projections concatenated into one
// [3D, D] matrix (one matmul per self-attention), cross-attention k and v into one [2D, D]. With
// Element::f16 the projection matrices (and the output matrix, then a copy of a tied embedding) are stored
// as f16 where their rows are whole vec4 texels; embeddings, biases and norms stay f32. The embeddings and
// the output matrix (vocabulary x d_model: 238 MB for 58k x 1024 in f32) are stored in row blocks within
// the device's per-buffer limits.
#include <memory>
#include <span>
#include <vector>

#include "vkformer/buffer.hpp"
#include "vkformer/context.hpp"
#include "vkformer/model/model.hpp"
#include "vkformer/ops/common.hpp"

namespace vkformer::translate {

struct Linear {
  View weight, bias;  // weight [out, in] (nn.Linear layout), bias [out]
  uint32_t out = 0, in = 0;
};

// The output projection [vocab, d_model] in row blocks: one matmul per block writes its logit columns.
struct Output {
  RowBlocks weight;
  View bias;  // [vocab]
  uint32_t in = 0;
};

struct Norm {
  View gamma, beta;
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
  Weights(Context& context, const ModelSource& source, Element matrices = Element::f32);

  const ModelConfig& config() const { return config_; }
  RowBlocks encoder_embedding, decoder_embedding;
  Output output;  // tied to the decoder embedding unless the model has its own lm_head
  std::vector<EncoderLayer> encoder;
  std::vector<DecoderLayer> decoder;

 private:
  template <typename T>
  View store(Context& context, std::span<const T> values, const std::string& name, Element element);
  View upload(Context& context, std::span<const float> values, const std::string& name);
  // A [rows, in] matrix for matmul's B operand, as f16 when chosen and in % 4 == 0.
  View upload_matrix(Context& context, std::span<const float> values, uint32_t in, const std::string& name);
  // A [rows, cols] table in as few row blocks as the device's per-buffer limits allow; `matrix`: each
  // block as upload_matrix stores it (f16 when chosen), else f32.
  RowBlocks upload_rows(Context& context, const std::vector<float>& values, uint32_t cols, const std::string& name,
                        bool matrix);
  Linear linear(Context& context, const ModelSource& source, const std::vector<std::string>& prefixes, uint32_t out,
                uint32_t in, const std::string& name);
  Norm norm(Context& context, const ModelSource& source, const std::string& prefix);

  ModelConfig config_;
  Element matrices_ = Element::f32;
  std::vector<std::unique_ptr<Buffer>> buffers_;
};

}  // namespace vkformer::translate
