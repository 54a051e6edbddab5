#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vkformer/model/model_file.hpp"
#include "vkformer/ops/common.hpp"

namespace vkformer {

// The architecture and generation defaults of an encoder-decoder translation model.
struct ModelConfig {
  uint32_t d_model = 0, vocab_size = 0, max_positions = 0;
  uint32_t encoder_layers = 0, decoder_layers = 0;
  uint32_t encoder_heads = 0, decoder_heads = 0;
  uint32_t encoder_ffn = 0, decoder_ffn = 0;
  Activation activation = Activation::gelu;
  bool scale_embedding = false;
  bool tie_embeddings = true;  // the output layer is the decoder embedding
  uint32_t pad_id = 0, eos_id = 0, decoder_start_id = 0;
  // How source text becomes ids: Marian appends eos only; CTranslate2 models say so in config.json.
  uint32_t unk_id = 0, bos_id = 0;
  bool add_source_bos = false, add_source_eos = true;
  std::optional<uint32_t> forced_eos_id;
  std::vector<uint32_t> banned_ids;  // single-token bad_words_ids (Marian: pad)
  uint32_t max_length = 512;         // counts the decoder start token, as transformers does
  uint32_t num_beams = 1;
  float length_penalty = 1.0f;       // beam scores are divided by length^length_penalty
};

// Where weights come from. Names are transformers' without the "model." prefix, e.g.
// "encoder.layers.0.self_attn.q_proj.weight", "encoder.embed_tokens.weight", "lm_head.weight",
// "final_logits_bias"; an implementation resolves its format's aliases (tied or shared tensors).
class ModelSource {
 public:
  virtual ~ModelSource() = default;
  virtual const ModelConfig& config() const = 0;
  virtual std::vector<float> weight(const std::string& name, const std::vector<uint64_t>& shape) const = 0;
};

// A Hugging Face Marian directory: config.json, generation_config.json, model.safetensors.
std::unique_ptr<ModelSource> open_marian_model(const std::filesystem::path& directory);

// config.json and, where it exists, generation_config.json, which generate() reads in its place for the
// decoding defaults. Every field is type- and range-checked, and every token id in either file is
// checked against the vocabulary; an Error names the file, the field and the value.
ModelConfig parse_marian_config(const JsonText& config, const std::optional<JsonText>& generation);
// The same, read from a model directory.
ModelConfig read_marian_config(const std::filesystem::path& directory);

}  // namespace vkformer
