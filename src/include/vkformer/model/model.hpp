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
  uint32_t d_model = 0, vocab_size = 0, max_positions = 0;  // vocab_size: the target vocabulary
  uint32_t source_vocab_size = 0;                            // the encoder's embedding rows
  uint32_t encoder_layers = 0, decoder_layers = 0;
  uint32_t encoder_heads = 0, decoder_heads = 0;
  uint32_t encoder_ffn = 0, decoder_ffn = 0;
  Activation activation = Activation::gelu;
  bool scale_embedding = false;
  // CTranslate2 models may scale each embedding by its own value (set: overrides scale_embedding).
  std::optional<float> encoder_embedding_scale, decoder_embedding_scale;
  bool tie_embeddings = true;  // the output layer is the decoder embedding
  // Pre-norm: each sublayer is x + f(LayerNorm(x)) and the stacks may end with a LayerNorm ("encoder.layer_norm",
  // "decoder.layer_norm"); post-norm (Marian): LayerNorm(x + f(x)).
  bool pre_norm = false, encoder_final_norm = false, decoder_final_norm = false;
  float layer_norm_eps = 1e-5f;
  // Positions: Marian's sinusoid computed by the embedding kernel, or a table of max_positions rows
  // ("encoder.embed_positions.weight", "decoder.embed_positions.weight"; position p is row p).
  bool position_table = false;
  // The decoder's first input is a zero vector (plus position 0), whatever decoder_start_id is.
  bool start_from_zero_embedding = false;
  // Decoding as CTranslate2's translate_batch does (its beam search and scores) rather than transformers'.
  bool ctranslate2_decoding = false;
  int32_t alignment_layer = -1;  // CTranslate2: the decoder layer and heads averaged for alignments
  uint32_t alignment_heads = 1;  uint32_t pad_id = 0, eos_id = 0, decoder_start_id = 0;
  // How source text becomes ids: Marian appends eos only; CTranslate2 models say so in config.json.
  uint32_t unk_id = 0, bos_id = 0;
  bool add_source_bos = false, add_source_eos = true;
  std::optional<uint32_t> forced_eos_id;
  std::vector<uint32_t> banned_ids;  // single-token bad_words_ids (Marian: pad)
  uint32_t max_length = 512;         // counts the decoder start token, as transformers does
  uint32_t num_beams = 1;
  float length_penalty = 1.0f;       // beam scores are divided by length^length_penalty
};

// A weight as its file stores it: little-endian values of `element`, and for i8 and i16 the f32 scales
// (w = q / scale: one per row for i8, one for the tensor for i16).
struct StoredWeight {
  Element element = Element::f32;
  std::vector<uint8_t> bytes;
  std::vector<float> scales;
};

// Where weights come from. Names are transformers' without the "model." prefix, e.g.
// "encoder.layers.0.self_attn.out_proj.weight", "encoder.embed_tokens.weight", "lm_head.weight",
// "final_logits_bias", plus the fused projections "...self_attn.qkv_proj.{weight,bias}" ([3D, D]: q, k, v) and
// "...encoder_attn.kv_proj.{weight,bias}" ([2D, D]: k, v), the final norms "encoder.layer_norm.{weight,bias}"
// and the position tables "{encoder,decoder}.embed_positions.weight" where the config has them. An
// implementation resolves its format's aliases (tied or shared tensors); an absent bias is zeros.
class ModelSource {
 public:
  virtual ~ModelSource() = default;
  virtual const ModelConfig& config() const = 0;
  // The weight as f32 (converted or dequantized), after checking its shape; a NaN or infinity is an Error.
  virtual std::vector<float> weight(const std::string& name, const std::vector<uint64_t>& shape) const = 0;
  // The weight as stored, after checking its shape. By default weight() as f32.
  virtual StoredWeight stored_weight(const std::string& name, const std::vector<uint64_t>& shape) const;
};

// A Hugging Face Marian directory: config.json, generation_config.json, model.safetensors.
std::unique_ptr<ModelSource> open_marian_model(const std::filesystem::path& directory);

// A CTranslate2 directory (model.bin) or else a Marian one.
std::unique_ptr<ModelSource> open_model(const std::filesystem::path& directory);

// config.json and, where it exists, generation_config.json, which generate() reads in its place for the
// decoding defaults. Every field is type- and range-checked, and every token id in either file is
// checked against the vocabulary; an Error names the file, the field and the value.
ModelConfig parse_marian_config(const JsonText& config, const std::optional<JsonText>& generation);
// The same, read from a model directory.
ModelConfig read_marian_config(const std::filesystem::path& directory);

}  // namespace vkformer
