// The Hugging Face Marian layout (what the ~1,000 public opus-mt models use), read as transformers does:
// see tools/reference/DECODING.md for the semantics this follows.
#include <cstring>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "vkformer/error.hpp"
#include "vkformer/half.hpp"
#include "vkformer/model/model.hpp"
#include "vkformer/model/model_file.hpp"
#include "vkformer/model/safetensors.hpp"

namespace vkformer {

namespace {

// Bounds far above any real model that keep sizes computed from them (d_model * vocab_size, ...) sane.
constexpr uint32_t kMaxWidth = 65536, kMaxLayers = 1024, kMaxHeads = 1024, kMaxFfn = 1 << 20;
constexpr uint32_t kMaxVocab = 1 << 24, kMaxPositions = 65536, kMaxLength = 1 << 20, kMaxBeams = 1024;
constexpr float kMaxLengthPenalty = 100.0f;

// One config file. Every value is checked for what it is before it is converted: nlohmann's conversion
// of a float such as 1e30 to an integer is undefined behaviour.
class ConfigFile {
 public:
  explicit ConfigFile(const JsonText& file) : json_(parse_json_object(file.text, file.path)), path_(file.path) {}

  // Present and not null.
  bool has(const char* key) const { return json_.contains(key) && !json_[key].is_null(); }

  uint32_t integer(const char* key, uint32_t min, uint32_t max, std::optional<uint32_t> fallback = {}) const {
    if (!has(key)) {
      if (!fallback) fail(key, "is missing");
      return *fallback;
    }
    const auto value = in_range(json_[key], min, max);
    if (!value) fail(key, fmt::format("is {}; it must be an integer from {} to {}", brief(json_[key]), min, max));
    return *value;
  }

  uint32_t token_id(const char* key, uint32_t vocab_size, uint32_t fallback) const {
    return has(key) ? checked_id(json_[key], key, vocab_size) : fallback;
  }

  // Every "..._token_id" (an id or a list of ids, as transformers allows) and bad_words_ids, whether
  // vkformer uses it or not: an id outside the vocabulary means the files do not belong together.
  void check_token_ids(uint32_t vocab_size) const {
    for (const auto& [key, value] : json_.items()) {
      if (value.is_null() || !std::string_view(key).ends_with("_token_id")) continue;
      if (!value.is_array()) {
        checked_id(value, key, vocab_size);
        continue;
      }
      for (const auto& id : value) checked_id(id, key, vocab_size);
    }
    bad_words(vocab_size);
  }

  // bad_words_ids: a list of token sequences.
  std::vector<std::vector<uint32_t>> bad_words(uint32_t vocab_size) const {
    std::vector<std::vector<uint32_t>> lists;
    if (!has("bad_words_ids")) return lists;
    const auto& value = json_["bad_words_ids"];
    if (!value.is_array()) fail("bad_words_ids", fmt::format("is {}; it must be a list of lists of token ids", brief(value)));
    for (const auto& words : value) {
      if (!words.is_array()) {
        fail("bad_words_ids", fmt::format("holds {}; it must be a list of lists of token ids", brief(words)));
      }
      auto& ids = lists.emplace_back();
      for (const auto& id : words) ids.push_back(checked_id(id, "bad_words_ids", vocab_size));
    }
    return lists;
  }

  float number(const char* key, float min, float max, float fallback) const {
    if (!has(key)) return fallback;
    const auto& value = json_[key];
    // Compared as double: a double outside float's range converts to float with undefined behaviour.
    if (!value.is_number() || !(value.get<double>() >= min && value.get<double>() <= max)) {
      fail(key, fmt::format("is {}; it must be a number from {} to {}", brief(value), min, max));
    }
    return float(value.get<double>());
  }

  bool boolean(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    if (!json_[key].is_boolean()) fail(key, fmt::format("is {}; it must be true or false", brief(json_[key])));
    return json_[key].get<bool>();
  }

  std::string string(const char* key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    if (!json_[key].is_string()) fail(key, fmt::format("is {}; it must be a string", brief(json_[key])));
    return json_[key].get<std::string>();
  }

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw Error(fmt::format("'{}': {} {}", path_.string(), key, what));
  }

 private:
  static std::optional<uint32_t> in_range(const nlohmann::json& value, uint64_t min, uint64_t max) {
    // Negative integers are number_integer, not number_unsigned; floats are neither.
    if (!value.is_number_unsigned()) return std::nullopt;
    const auto n = value.get<uint64_t>();
    if (n < min || n > max) return std::nullopt;
    return uint32_t(n);
  }

  uint32_t checked_id(const nlohmann::json& value, const std::string& key, uint32_t vocab_size) const {
    const auto id = in_range(value, 0, uint64_t(vocab_size) - 1);
    if (!id) fail(key, fmt::format("holds {}, not a token id of the {}-token vocabulary", brief(value), vocab_size));
    return *id;
  }

  nlohmann::json json_;
  std::filesystem::path path_;
};

Activation parse_activation(const ConfigFile& config) {
  const auto name = config.string("activation_function", "gelu");
  if (name == "swish" || name == "silu") return Activation::swish;
  if (name == "relu") return Activation::relu;
  if (name == "gelu") return Activation::gelu;
  config.fail("activation_function", fmt::format("is {}; supported: swish, silu, relu, gelu", brief(name)));
}

void read_architecture(const ConfigFile& config, ModelConfig& c) {
  c.d_model = config.integer("d_model", 1, kMaxWidth);
  c.vocab_size = config.integer("vocab_size", 1, kMaxVocab);
  c.source_vocab_size = c.vocab_size;
  c.max_positions = config.integer("max_position_embeddings", 1, kMaxPositions);
  c.encoder_layers = config.integer("encoder_layers", 1, kMaxLayers);
  c.decoder_layers = config.integer("decoder_layers", 1, kMaxLayers);
  c.encoder_heads = config.integer("encoder_attention_heads", 1, kMaxHeads);
  c.decoder_heads = config.integer("decoder_attention_heads", 1, kMaxHeads);
  c.encoder_ffn = config.integer("encoder_ffn_dim", 1, kMaxFfn);
  c.decoder_ffn = config.integer("decoder_ffn_dim", 1, kMaxFfn);
  c.activation = parse_activation(config);
  c.scale_embedding = config.boolean("scale_embedding", false);
  c.tie_embeddings = config.boolean("tie_word_embeddings", true);
  if (c.d_model % c.encoder_heads || c.d_model % c.decoder_heads) {
    config.fail("d_model", fmt::format("{} is not divisible by the number of attention heads ({} encoder, {} decoder)",
                                       c.d_model, c.encoder_heads, c.decoder_heads));
  }
  config.check_token_ids(c.vocab_size);
  c.pad_id = config.token_id("pad_token_id", c.vocab_size, 0);
  c.eos_id = config.token_id("eos_token_id", c.vocab_size, 0);
  c.decoder_start_id = config.token_id("decoder_start_token_id", c.vocab_size, c.pad_id);
}

void read_generation(const ConfigFile& generation, ModelConfig& c) {
  generation.check_token_ids(c.vocab_size);
  c.max_length = generation.integer("max_length", 2, kMaxLength, 512);
  c.num_beams = generation.integer("num_beams", 1, kMaxBeams, 1);
  c.length_penalty = generation.number("length_penalty", -kMaxLengthPenalty, kMaxLengthPenalty, 1.0f);
  if (generation.has("forced_eos_token_id")) {
    c.forced_eos_id = generation.token_id("forced_eos_token_id", c.vocab_size, 0);
  }
  for (const auto& words : generation.bad_words(c.vocab_size)) {
    if (words.size() == 1) c.banned_ids.push_back(words[0]);
  }
}

struct Fused {
  const char* name;
  std::vector<const char*> parts;
};
const Fused kFused[] = {{"self_attn.qkv_proj", {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"}},
                        {"encoder_attn.kv_proj", {"encoder_attn.k_proj", "encoder_attn.v_proj"}}};

class MarianModel final : public ModelSource {
 public:
  explicit MarianModel(const std::filesystem::path& directory)
      : config_(read_marian_config(directory)), weights_(directory / "model.safetensors") {}

  const ModelConfig& config() const override { return config_; }

  std::vector<float> weight(const std::string& name, const std::vector<uint64_t>& shape) const override {
    if (name == "final_logits_bias" && !weights_.contains(name)) {
      uint64_t count = 1;
      for (uint64_t d : shape) count *= d;
      return std::vector<float>(count, 0.0f);
    }
    // The fused projections are transformers' separate ones stacked along the output dimension.
    for (const auto& [fused, parts] : kFused) {
      const auto at = name.find(fused);
      if (at == std::string::npos) continue;
      const auto prefix = name.substr(0, at), suffix = name.substr(at + std::string_view(fused).size());
      std::vector<uint64_t> part_shape = shape;
      part_shape.at(0) /= parts.size();
      std::vector<float> values;
      for (const char* part : parts) {
        const auto v = weights_.read_f32(resolve(prefix + part + suffix), part_shape);
        values.insert(values.end(), v.begin(), v.end());
      }
      return values;
    }
    return weights_.read_f32(resolve(name), shape);
  }

  // A matrix stored as f16 in every tensor it is read from stays f16 (the shipped model, many exported
  // ones): the kernels widen it to the same f32 values, and a decoder step is bound by the bytes it reads.
  StoredWeight stored_weight(const std::string& name, const std::vector<uint64_t>& shape) const override {
    if (!stored_as_f16(name)) return ModelSource::stored_weight(name, shape);
    const auto values = weight(name, shape);  // checks the shape and the values
    StoredWeight stored{.element = Element::f16, .bytes = std::vector<uint8_t>(values.size() * 2)};
    for (size_t i = 0; i < values.size(); ++i) {
      const uint16_t half = float_to_half(values[i]);  // exact: each value came from an f16
      std::memcpy(&stored.bytes[i * 2], &half, 2);
    }
    return stored;
  }

 private:
  bool stored_as_f16(const std::string& name) const {
    const auto f16 = [&](const std::string& tensor) {
      return weights_.contains(tensor) && weights_.entry(tensor).dtype == "F16";
    };
    for (const auto& [fused, parts] : kFused) {
      const auto at = name.find(fused);
      if (at == std::string::npos) continue;
      const auto prefix = name.substr(0, at), suffix = name.substr(at + std::string_view(fused).size());
      for (const char* part : parts) {
        if (!f16(resolve(prefix + part + suffix))) return false;
      }
      return true;
    }
    return f16(resolve(name));
  }

  // transformers stores tied tensors once: embeddings fall back to the shared one, and a tied output
  // layer is the decoder embedding whatever lm_head.weight holds.
  std::string resolve(const std::string& name) const {
    auto present = [&](const std::string& n) { return weights_.contains(n); };
    if (name == "lm_head.weight") {
      if (!config_.tie_embeddings && present(name)) return name;
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
};

}  // namespace

StoredWeight ModelSource::stored_weight(const std::string& name, const std::vector<uint64_t>& shape) const {
  const auto values = weight(name, shape);
  StoredWeight stored{.element = Element::f32, .bytes = std::vector<uint8_t>(values.size() * sizeof(float))};
  std::memcpy(stored.bytes.data(), values.data(), stored.bytes.size());
  return stored;
}

ModelConfig parse_marian_config(const JsonText& config_text, const std::optional<JsonText>& generation_text) {
  const ConfigFile config(config_text);
  ModelConfig c;
  read_architecture(config, c);
  c.alignment_heads = 0;  // transformers names no alignment heads: the last layer's heads, averaged
  if (generation_text) {
    const ConfigFile generation(*generation_text);
    read_generation(generation, c);
  } else {
    read_generation(config, c);
  }
  return c;
}

ModelConfig read_marian_config(const std::filesystem::path& directory) {
  const auto generation_path = directory / "generation_config.json";
  std::optional<JsonText> generation;
  // symlink_status: a dangling link is an error when opened, not a missing file.
  std::error_code error;
  if (std::filesystem::exists(std::filesystem::symlink_status(generation_path, error))) {
    generation = JsonText{generation_path, read_model_file(generation_path)};
  }
  const auto config_path = directory / "config.json";
  return parse_marian_config({config_path, read_model_file(config_path)}, generation);
}

std::unique_ptr<ModelSource> open_marian_model(const std::filesystem::path& directory) {
  std::error_code error;
  const auto status = std::filesystem::status(directory, error);
  if (!std::filesystem::exists(status)) throw Error(fmt::format("model directory '{}' does not exist", directory.string()));
  if (!std::filesystem::is_directory(status)) throw Error(fmt::format("model path '{}' is not a directory", directory.string()));
  return std::make_unique<MarianModel>(directory);
}

}  // namespace vkformer
