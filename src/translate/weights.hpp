#pragma once
// Model weights on the device, arranged for the kernels: q, k and v projections concatenated into one
// [3D, D] matrix (one matmul per self-attention), cross-attention k and v into one [2D, D]. With
// Element::f16 the projection matrices (and the output matrix, then a copy of a tied embedding) are stored
// as f16 where their rows are whole vec4 texels; embeddings, biases and norms stay f32.
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
  View encoder_embedding, decoder_embedding;
  Linear output;  // tied to the decoder embedding unless the model has its own lm_head
  std::vector<EncoderLayer> encoder;
  std::vector<DecoderLayer> decoder;

 private:
  template <typename T>
  View store(Context& context, std::span<const T> values, const std::string& name, Element element);
  View upload(Context& context, const std::vector<float>& values, const std::string& name);
  // A [rows, in] matrix for matmul's B operand, as f16 when chosen and in % 4 == 0.
  View upload_matrix(Context& context, const std::vector<float>& values, uint32_t in, const std::string& name);
  Linear linear(Context& context, const ModelSource& source, const std::vector<std::string>& prefixes, uint32_t out,
                uint32_t in, const std::string& name);
  Norm norm(Context& context, const ModelSource& source, const std::string& prefix);

  ModelConfig config_;
  Element matrices_ = Element::f32;
  std::vector<std::unique_ptr<Buffer>> buffers_;
};

}  // namespace vkformer::translate
