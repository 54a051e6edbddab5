// The Hugging Face Marian layout (what the ~1,000 public opus-mt models use), read as transformers does:
// see tools/reference/DECODING.md for the semantics this follows.
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "vkformer/error.hpp"
#include "vkformer/model/model.hpp"
#include "vkformer/model/safetensors.hpp"

namespace vkformer {

namespace {

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream file(path);
  if (!file) throw Error(fmt::format("cannot open '{}'", path.string()));
  try {
    return nlohmann::json::parse(file);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("'{}' is not valid JSON: {}", path.string(), e.what()));
  }
}

template <typename T>
T field(const nlohmann::json& json, const char* key, T fallback, const std::filesystem::path& path) {
  if (!json.contains(key) || json[key].is_null()) return fallback;
  try {
    return json[key].get<T>();
  } catch (const nlohmann::json::exception&) {
    throw Error(fmt::format("'{}': field '{}' has the wrong type", path.string(), key));
  }
}

Activation parse_activation(const std::string& name, const std::filesystem::path& path) {
  if (name == "swish" || name == "silu") return Activation::swish;
  if (name == "relu") return Activation::relu;
  if (name == "gelu") return Activation::gelu;
  throw Error(fmt::format("'{}': activation_function '{}' is not supported (swish, silu, relu, gelu)", path.string(), name));
}

class MarianModel final : public ModelSource {
 public:
  explicit MarianModel(const std::filesystem::path& directory)
      : weights_(require(directory / "model.safetensors")) {
    const auto config_path = require(directory / "config.json");
    const auto json = read_json(config_path);
    auto& c = config_;
    c.d_model = field<uint32_t>(json, "d_model", 0, config_path);
    c.vocab_size = field<uint32_t>(json, "vocab_size", 0, config_path);
    c.max_positions = field<uint32_t>(json, "max_position_embeddings", 0, config_path);
    c.encoder_layers = field<uint32_t>(json, "encoder_layers", 0, config_path);
    c.decoder_layers = field<uint32_t>(json, "decoder_layers", 0, config_path);
    c.encoder_heads = field<uint32_t>(json, "encoder_attention_heads", 0, config_path);
    c.decoder_heads = field<uint32_t>(json, "decoder_attention_heads", 0, config_path);
    c.encoder_ffn = field<uint32_t>(json, "encoder_ffn_dim", 0, config_path);
    c.decoder_ffn = field<uint32_t>(json, "decoder_ffn_dim", 0, config_path);
    c.activation = parse_activation(field<std::string>(json, "activation_function", "gelu", config_path), config_path);
    c.scale_embedding = field<bool>(json, "scale_embedding", false, config_path);
    c.pad_id = field<uint32_t>(json, "pad_token_id", 0, config_path);
    c.eos_id = field<uint32_t>(json, "eos_token_id", 0, config_path);
    c.decoder_start_id = field<uint32_t>(json, "decoder_start_token_id", c.pad_id, config_path);
    tie_embeddings_ = field<bool>(json, "tie_word_embeddings", true, config_path);
    for (auto [key, value] : {std::pair{"d_model", c.d_model}, {"vocab_size", c.vocab_size},
                              {"max_position_embeddings", c.max_positions}, {"encoder_layers", c.encoder_layers},
                              {"decoder_layers", c.decoder_layers}, {"encoder_attention_heads", c.encoder_heads},
                              {"decoder_attention_heads", c.decoder_heads}, {"encoder_ffn_dim", c.encoder_ffn},
                              {"decoder_ffn_dim", c.decoder_ffn}}) {
      if (value == 0) throw Error(fmt::format("'{}': '{}' is missing or zero", config_path.string(), key));
    }
    if (c.d_model % c.encoder_heads || c.d_model % c.decoder_heads) {
      throw Error(fmt::format("'{}': d_model {} is not divisible by the number of attention heads", config_path.string(), c.d_model));
    }
    for (uint32_t id : {c.pad_id, c.eos_id, c.decoder_start_id}) {
      if (id >= c.vocab_size) throw Error(fmt::format("'{}': token id {} is outside the vocabulary of {}", config_path.string(), id, c.vocab_size));
    }
    // generate() reads generation_config.json in place of config.json when it exists.
    const auto generation_path = directory / "generation_config.json";
    const auto generation = std::filesystem::exists(generation_path) ? read_json(generation_path) : json;
    const auto& g_path = std::filesystem::exists(generation_path) ? generation_path : config_path;
    c.max_length = field<uint32_t>(generation, "max_length", 512, g_path);
    c.num_beams = field<uint32_t>(generation, "num_beams", 1, g_path);
    c.length_penalty = field<float>(generation, "length_penalty", 1.0f, g_path);
    if (generation.contains("forced_eos_token_id") && !generation["forced_eos_token_id"].is_null()) {
      c.forced_eos_id = field<uint32_t>(generation, "forced_eos_token_id", 0, g_path);
    }
    for (const auto& words : field<std::vector<std::vector<uint32_t>>>(generation, "bad_words_ids", {}, g_path)) {
      if (words.size() == 1) c.banned_ids.push_back(words[0]);
    }
  }

  const ModelConfig& config() const override { return config_; }

  std::vector<float> weight(const std::string& name, const std::vector<uint64_t>& shape) const override {
    if (name == "final_logits_bias" && !weights_.contains(name)) {
      uint64_t count = 1;
      for (uint64_t d : shape) count *= d;
      return std::vector<float>(count, 0.0f);
    }
    return weights_.read_f32(resolve(name), shape);
  }

 private:
  static std::filesystem::path require(const std::filesystem::path& path) {
    if (!std::filesystem::exists(path)) throw Error(fmt::format("model file '{}' is missing", path.string()));
    return path;
  }

  // transformers stores tied tensors once: embeddings fall back to the shared one, and a tied output
  // layer is the decoder embedding whatever lm_head.weight holds.
  std::string resolve(const std::string& name) const {
    auto present = [&](const std::string& n) { return weights_.contains(n); };
    if (name == "lm_head.weight") {
      if (!tie_embeddings_ && present(name)) return name;
      return resolve("decoder.embed_tokens.weight");
    }
    if (name == "final_logits_bias") return name;
    if (name == "encoder.embed_tokens.weight" || name == "decoder.embed_tokens.weight") {
      if (present("model." + name)) return "model." + name;
      return "model.shared.weight";
    }
    return "model." + name;
  }

  ModelConfig config_;
  SafetensorsFile weights_;
  bool tie_embeddings_ = true;
};

}  // namespace

std::unique_ptr<ModelSource> open_marian_model(const std::filesystem::path& directory) {
  if (!std::filesystem::is_directory(directory)) {
    throw Error(fmt::format("model directory '{}' does not exist", directory.string()));
  }
  return std::make_unique<MarianModel>(directory);
}

}  // namespace vkformer
