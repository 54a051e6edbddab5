// CTranslate2 model directories: model.bin (binary versions 1-6) of a TransformerSpec, config.json (v6)
// and the vocabularies. model.bin is a packed little-endian stream without alignment:
//   u32 binary version; from v2: string spec name, u32 spec revision;
//   u32 count, then per variable: string name, u8 rank, rank x u32 dims, then from v4 u8 dtype id and
//   u32 byte count, before v4 u8 item size and u32 element count; the raw values;
//   from v3: u32 count, then per alias: string alias, string variable.
// A string is a u16 length (counting a terminating NUL), the bytes and the NUL. Settings are scalar
// variables ("encoder/num_heads", "decoder/pre_norm", ...); spec revision 1 used OpenNMT-tf's variable
// names, revisions below 3 had no num_heads (8, or 16 for TransformerBig), below 5 top-level settings.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "vkformer/error.hpp"
#include "vkformer/half.hpp"
#include "vkformer/model/ctranslate2.hpp"
#include "vkformer/model/model_file.hpp"

namespace vkformer {

namespace {

// Names and tokens come from the files: control characters are escaped, so that a message stays one line.
std::string printable(std::string_view text) {
  std::string out;
  for (const char ch : text) {
    const auto byte = static_cast<unsigned char>(ch);
    out += byte < 0x20 || byte == 0x7f ? fmt::format("\\x{:02x}", byte) : std::string(1, ch);
  }
  return out;
}

constexpr uint32_t kMaxBinaryVersion = 6, kMaxSpecRevision = 7, kMaxRank = 8;
constexpr uint32_t kMaxDecodingLength = 256;  // translate_batch's max_decoding_length
constexpr uint32_t kComputedPositions = 1024;  // translate_batch's max_input_length
constexpr uint64_t kMaxDim = 1u << 30;

// CTranslate2's DataType ids (include/ctranslate2/types.h).
enum class DType : uint8_t { f32 = 0, i8 = 1, i16 = 2, i32 = 3, f16 = 4, bf16 = 5 };
constexpr const char* kDTypeNames[] = {"float32", "int8", "int16", "int32", "float16", "bfloat16"};
constexpr uint32_t kDTypeBytes[] = {4, 1, 2, 4, 2, 2};

struct Variable {
  DType dtype = DType::f32;
  std::vector<uint64_t> shape;
  uint64_t elements = 1;
  std::span<const uint8_t> data;
};

float f32_at(const uint8_t* p) {
  float v;
  std::memcpy(&v, p, 4);
  return v;
}

template <typename T>
T integer_at(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

float bf16_to_float(uint16_t raw) {
  const uint32_t bits = uint32_t(raw) << 16;
  float v;
  std::memcpy(&v, &bits, 4);
  return v;
}

// Spec revision 1 named variables as OpenNMT-tf did; CTranslate2 renames them on load (first occurrence of
// each pattern, in this order).
std::string map_v1_name(std::string name) {
  const auto replace = [&](const std::string& from, const std::string& to) {
    const auto at = name.find(from);
    if (at != std::string::npos) name.replace(at, from.size(), to);
  };
  replace("transformer/", "");
  replace(":0", "");
  replace("w_embs", "embeddings/weight");
  replace("kernel", "weight");
  replace("LayerNorm", "layer_norm");
  replace("dense", "projection");
  replace("conv1d_", "linear_");
  replace("conv1d", "linear_0");
  if (name.find("encoder") != std::string::npos) {
    replace("multi_head", "self_attention");
  } else {
    replace("masked_multi_head", "self_attention");
    replace("multi_head", "attention");
  }
  return name;
}

// The parsed model.bin: every record checked against the file before anything is allocated for it.
class ModelBin {
 public:
  explicit ModelBin(const std::filesystem::path& path) : path_(path) {
    auto file = map_model_file(path);
    mapping_ = std::move(file.mapping);
    file_ = file.bytes;
    parse();
  }

  uint32_t version() const { return version_; }
  uint32_t revision() const { return revision_; }
  const std::string& spec() const { return spec_; }
  const std::filesystem::path& path() const { return path_; }
  const std::map<std::string, Variable>& variables() const { return variables_; }

  const Variable* find(const std::string& name) const {
    const auto alias = aliases_.find(name);
    const auto found = variables_.find(alias == aliases_.end() ? name : alias->second);
    return found == variables_.end() ? nullptr : &found->second;
  }

  const Variable& get(const std::string& name) const {
    const Variable* v = find(name);
    if (!v) fail(fmt::format("has no variable '{}'", name));
    return *v;
  }

  // A scalar setting as a number; nullopt if absent.
  std::optional<double> scalar(const std::string& name) const {
    const Variable* v = find(name);
    if (!v) return std::nullopt;
    if (v->elements != 1) fail(fmt::format("variable '{}' has shape [{}]; it must be a scalar", name, fmt::join(v->shape, ", ")));
    const uint8_t* p = v->data.data();
    switch (v->dtype) {
      case DType::f32: return f32_at(p);
      case DType::i8: return integer_at<int8_t>(p);
      case DType::i16: return integer_at<int16_t>(p);
      case DType::i32: return integer_at<int32_t>(p);
      case DType::f16: return half_to_float(integer_at<uint16_t>(p));
      case DType::bf16: return bf16_to_float(integer_at<uint16_t>(p));
    }
    return std::nullopt;
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(fmt::format("'{}' {}", path_.string(), printable(what)));
  }

 private:
  void need(uint64_t bytes, const char* what) const {
    if (bytes > file_.size() - offset_) {
      fail(fmt::format("is truncated: {} of {} bytes at byte {}, but the file has {} bytes", what, bytes, offset_,
                       file_.size()));
    }
  }
  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, file_.data() + offset_, sizeof(T));
    offset_ += sizeof(T);
    return v;
  }
  std::string read_string(const char* what) {
    const auto length = read<uint16_t>(what);
    need(length, what);
    const char* p = reinterpret_cast<const char*>(file_.data() + offset_);
    offset_ += length;
    if (length == 0 || p[length - 1] != '\0') {
      fail(fmt::format("has a corrupt {} at byte {}: not a NUL-terminated string", what, offset_ - length));
    }
    std::string s(p, length - 1);
    if (s.find('\0') != std::string::npos) fail(fmt::format("has a corrupt {} at byte {}: it holds a NUL", what, offset_ - length));
    return s;
  }

  void parse() {
    version_ = read<uint32_t>("the binary version");
    if (version_ < 1 || version_ > kMaxBinaryVersion) {
      fail(fmt::format("has binary version {}; versions 1 to {} are supported", version_, kMaxBinaryVersion));
    }
    if (version_ >= 2) {
      spec_ = read_string("spec name");
      revision_ = read<uint32_t>("the spec revision");
    }
    const auto count = read<uint32_t>("the variable count");
    // Each record takes at least 8 bytes: a bound before anything is reserved for them.
    if (count > (file_.size() - offset_) / 8) {
      fail(fmt::format("claims {} variables, more than its {} bytes can hold", count, file_.size()));
    }
    for (uint32_t i = 0; i < count; ++i) read_variable();
    if (version_ >= 3) {
      const auto aliases = read<uint32_t>("the alias count");
      if (aliases > (file_.size() - offset_) / 6) {
        fail(fmt::format("claims {} aliases, more than its {} bytes can hold", aliases, file_.size()));
      }
      for (uint32_t i = 0; i < aliases; ++i) {
        auto alias = read_string("alias name");
        auto target = read_string("alias target");
        if (revision_ == 1) {
          alias = map_v1_name(alias);
          target = map_v1_name(target);
        }
        const auto resolved = aliases_.count(target) ? aliases_.at(target) : target;
        if (!variables_.count(resolved)) fail(fmt::format("has alias '{}' of the missing variable '{}'", alias, target));
        aliases_[alias] = resolved;
        // A quantized variable's scale comes with it.
        if (variables_.count(resolved + "_scale")) aliases_[alias + "_scale"] = resolved + "_scale";
      }
    }
    if (offset_ != file_.size()) fail(fmt::format("has {} bytes after its last record", file_.size() - offset_));
  }

  void read_variable() {
    auto name = read_string("variable name");
    if (revision_ == 1) name = map_v1_name(name);
    const auto rank = read<uint8_t>("the rank");
    if (rank > kMaxRank) fail(fmt::format("variable '{}' has rank {}; at most {} is supported", name, rank, kMaxRank));
    Variable v;
    for (uint32_t r = 0; r < rank; ++r) {
      const uint64_t dim = read<uint32_t>("a dimension");
      if (dim == 0 || dim > kMaxDim) fail(fmt::format("variable '{}' has dimension {} = {}", name, r, dim));
      v.shape.push_back(dim);
      if (__builtin_mul_overflow(v.elements, dim, &v.elements) || v.elements > file_.size()) {
        fail(fmt::format("variable '{}' has shape [{}], more elements than the file has bytes", name, fmt::join(v.shape, ", ")));
      }
    }
    uint64_t bytes = 0;
    if (version_ >= 4) {
      const auto id = read<uint8_t>("the dtype id");
      if (id >= std::size(kDTypeNames)) {
        fail(fmt::format("variable '{}' has dtype id {}; known: 0 to {} (float32, int8, int16, int32, float16, bfloat16)",
                         name, id, std::size(kDTypeNames) - 1));
      }
      v.dtype = DType(id);
      bytes = read<uint32_t>("the byte count");
    } else {
      // Before v4 the dtype was inferred from the item size: 4 float32, 2 int16, 1 int8.
      const auto item = read<uint8_t>("the item size");
      if (item != 4 && item != 2 && item != 1) {
        fail(fmt::format("variable '{}' has item size {}; it must be 1, 2 or 4", name, item));
      }
      v.dtype = item == 4 ? DType::f32 : item == 2 ? DType::i16 : DType::i8;
      bytes = uint64_t(read<uint32_t>("the element count")) * item;
    }
    const uint64_t expected = v.elements * kDTypeBytes[uint8_t(v.dtype)];
    if (bytes != expected) {
      fail(fmt::format("variable '{}' has shape [{}] of {} ({} bytes) but {} bytes of data", name,
                       fmt::join(v.shape, ", "), kDTypeNames[uint8_t(v.dtype)], expected, bytes));
    }
    need(bytes, "variable data");
    v.data = file_.subspan(offset_, bytes);
    offset_ += bytes;
    if (!variables_.emplace(name, std::move(v)).second) fail(fmt::format("has the variable '{}' twice", name));
  }

  std::filesystem::path path_;
  std::span<const uint8_t> file_;
  std::shared_ptr<const uint8_t> mapping_;
  uint64_t offset_ = 0;
  uint32_t version_ = 0, revision_ = 1;
  std::string spec_;
  std::map<std::string, Variable> variables_;
  std::map<std::string, std::string> aliases_;
};

// The logical (transformers-style) names of one layer's weights and their CTranslate2 scopes.
struct LayerName {
  const char* logical;
  const char* scope;
};
constexpr LayerName kLayerNames[] = {
    {"self_attn.qkv_proj", "self_attention/linear_0"},  {"self_attn.out_proj", "self_attention/linear_1"},
    {"self_attn_layer_norm", "self_attention/layer_norm"}, {"encoder_attn.q_proj", "attention/linear_0"},
    {"encoder_attn.kv_proj", "attention/linear_1"},      {"encoder_attn.out_proj", "attention/linear_2"},
    {"encoder_attn_layer_norm", "attention/layer_norm"}, {"fc1", "ffn/linear_0"},
    {"fc2", "ffn/linear_1"},                             {"final_layer_norm", "ffn/layer_norm"},
};

// Variables of features the engine does not compute: one error naming the feature.
struct Unsupported {
  const char* fragment;
  const char* feature;
};
constexpr Unsupported kUnsupported[] = {
    {"relative_position_keys", "relative position representations"},
    {"relative_attention_bias", "relative attention bias"},
    {"rotary_dim", "rotary position embeddings"},
    {"num_heads_kv", "multi-query / grouped-query attention"},
    {"linear_0_noact", "gated linear units in the feed-forward network"},
    {"project_in", "input and output projections of the decoder"},
    {"layernorm_embedding", "a layer norm after the embeddings"},
    {"scale_outputs", "scaled decoder outputs"},
    {"sliding_window", "sliding-window attention"},
    {"embeddings_1", "multiple source features"},
    {"shared_layer_norm", "parallel residual blocks"},
    {"input_layer_norm", "parallel residual blocks"},
    {"pre_feedforward_layer_norm", "pre- and post-feed-forward layer norms"},
    {"weight_zero", "AWQ quantization"},
};

class Ct2Model final : public ModelSource {
 public:
  explicit Ct2Model(const std::filesystem::path& directory)
      : directory_(directory), bin_(directory / "model.bin") {
    read_config();
  }

  const ModelConfig& config() const override { return config_; }

  std::vector<float> weight(const std::string& name, const std::vector<uint64_t>& shape) const override {
    uint64_t count = 1;
    for (uint64_t d : shape) count *= d;
    if (name == "encoder.embed_positions.weight" || name == "decoder.embed_positions.weight") {
      const auto scope = name.substr(0, 7) + "/position_encodings/encodings";
      const Variable* stored = bin_.find(scope);
      if (!stored) return sinusoid(uint32_t(shape.at(0)), uint32_t(shape.at(1)));
      // The encoder's and the decoder's tables may differ in length: the first max_positions rows of each.
      auto values = as_floats(scope, stored->shape);
      values.resize(std::min<uint64_t>(values.size(), count));
      return values;
    }
    const auto variable = resolve(name);
    if (!bin_.find(variable) && is_optional_bias(name)) return std::vector<float>(count, 0.0f);
    return as_floats(variable, shape);
  }

  StoredWeight stored_weight(const std::string& name, const std::vector<uint64_t>& shape) const override {
    const auto variable = resolve(name);
    const Variable& v = checked(variable, shape);
    StoredWeight stored{.bytes = std::vector<uint8_t>(v.data.begin(), v.data.end())};
    switch (v.dtype) {
      case DType::f32: stored.element = Element::f32; break;
      case DType::f16: stored.element = Element::f16; break;
      case DType::bf16: stored.element = Element::bf16; break;
      case DType::i8: stored.element = Element::i8; break;
      case DType::i16: stored.element = Element::i16; break;
      case DType::i32: bin_.fail(fmt::format("variable '{}' holds int32; weights must be float or int8/int16", variable));
    }
    if (stored.element == Element::i8 || stored.element == Element::i16) {
      stored.scales = scales(variable, v);
    } else {
      as_floats(variable, shape);  // checks that every value is finite
    }
    return stored;
  }

 private:
  // The CTranslate2 variable of a logical name.
  std::string resolve(const std::string& name) const {
    if (name == "encoder.embed_tokens.weight") return encoder_embeddings_ + "/weight";
    if (name == "decoder.embed_tokens.weight") return "decoder/embeddings/weight";
    if (name == "lm_head.weight") return "decoder/projection/weight";
    if (name == "final_logits_bias") return "decoder/projection/bias";
    const auto dot = name.rfind('.');
    const auto suffix = name.substr(dot + 1), base = name.substr(0, dot);
    const bool norm = base.ends_with("layer_norm");
    const std::string leaf = norm ? (suffix == "weight" ? "gamma" : "beta") : suffix;
    if (base == "encoder.layer_norm" || base == "decoder.layer_norm") return base.substr(0, 7) + "/layer_norm/" + leaf;
    // "encoder.layers.3.fc1" -> "encoder/layer_3/ffn/linear_0"
    const auto stack = base.substr(0, 7), rest = base.substr(std::string_view("encoder.layers.").size());
    const auto layer_dot = rest.find('.');
    for (const auto& n : kLayerNames) {
      if (rest.substr(layer_dot + 1) == n.logical) {
        return fmt::format("{}/layer_{}/{}/{}", stack, rest.substr(0, layer_dot), n.scope, leaf);
      }
    }
    throw Error(fmt::format("'{}': no CTranslate2 variable for the weight '{}'", bin_.path().string(), name));
  }

  static bool is_optional_bias(const std::string& name) {
    return name == "final_logits_bias" || (name.ends_with(".bias") && name.find("layer_norm") == std::string::npos);
  }

  const Variable& checked(const std::string& name, const std::vector<uint64_t>& shape) const {
    const Variable& v = bin_.get(name);
    uint64_t count = 1;
    for (uint64_t d : shape) count *= d;
    // A [1, n] request matches a [n] variable (output bias).
    if (v.shape != shape && !(count == v.elements && v.shape.size() == 1 && shape.size() == 2 && shape[0] == 1)) {
      bin_.fail(fmt::format("variable '{}' has shape [{}] but the model implies [{}]", name, fmt::join(v.shape, ", "),
                            fmt::join(shape, ", ")));
    }
    return v;
  }

  // i8: one scale per row; i16: one. CTranslate2 computes w = q / scale.
  std::vector<float> scales(const std::string& name, const Variable& v) const {
    const Variable* s = bin_.find(name + "_scale");
    if (!s) bin_.fail(fmt::format("has no '{}_scale' for the {} variable '{}'", name, kDTypeNames[uint8_t(v.dtype)], name));
    const uint64_t want = v.dtype == DType::i8 ? v.shape.at(0) : 1;
    if (s->dtype != DType::f32 && s->dtype != DType::f16 && s->dtype != DType::bf16) {
      bin_.fail(fmt::format("variable '{}_scale' holds {}; scales must be float", name, kDTypeNames[uint8_t(s->dtype)]));
    }
    if (s->elements != want) {
      bin_.fail(fmt::format("variable '{}_scale' has {} values; the {} variable needs {}", name, s->elements,
                            kDTypeNames[uint8_t(v.dtype)], want));
    }
    std::vector<float> out(want);
    for (uint64_t i = 0; i < want; ++i) {
      out[i] = element(*s, i);
      if (!std::isfinite(out[i]) || out[i] == 0.0f) {
        bin_.fail(fmt::format("variable '{}_scale' holds {} at {}; scales must be finite and not 0", name, out[i], i));
      }
    }
    return out;
  }

  static float element(const Variable& v, uint64_t i) {
    const uint8_t* p = v.data.data() + i * kDTypeBytes[uint8_t(v.dtype)];
    switch (v.dtype) {
      case DType::f32: return f32_at(p);
      case DType::f16: return half_to_float(integer_at<uint16_t>(p));
      case DType::bf16: return bf16_to_float(integer_at<uint16_t>(p));
      case DType::i8: return float(integer_at<int8_t>(p));
      case DType::i16: return float(integer_at<int16_t>(p));
      case DType::i32: return float(integer_at<int32_t>(p));
    }
    return 0.0f;
  }

  std::vector<float> as_floats(const std::string& name, const std::vector<uint64_t>& shape) const {
    const Variable& v = checked(name, shape);
    if (v.dtype == DType::i32) bin_.fail(fmt::format("variable '{}' holds int32; weights must be float or int8/int16", name));
    std::vector<float> quant_scales;
    if (v.dtype == DType::i8 || v.dtype == DType::i16) quant_scales = scales(name, v);
    const uint64_t cols = v.dtype == DType::i8 ? v.elements / v.shape.at(0) : v.elements;
    std::vector<float> values(v.elements);
    for (uint64_t i = 0; i < v.elements; ++i) {
      values[i] = element(v, i);
      if (!quant_scales.empty()) values[i] /= quant_scales[i / cols];
      if (!std::isfinite(values[i])) {
        bin_.fail(fmt::format("variable '{}' holds {} at element {}; weights must be finite", name, values[i], i));
      }
    }
    return values;
  }

  // CTranslate2's own sinusoid (layers/common.cc), in float as it computes it: timescale j of the dim/2 is
  // exp(-j * ln(10000) / (dim/2 - 1)), position p (from 0) is encoded at time p + 1, sin half then cos half.
  static std::vector<float> sinusoid(uint32_t positions, uint32_t dim) {
    const uint32_t half = dim / 2;
    const float increment = std::log(10000.0f) / float(half - 1);
    std::vector<float> table(size_t(positions) * dim, 0.0f);
    for (uint32_t p = 0; p < positions; ++p) {
      for (uint32_t j = 0; j < half; ++j) {
        const float timescale = std::exp(-increment * float(j));
        const float t = float(p + 1) * timescale;
        table[size_t(p) * dim + j] = std::sin(t);
        table[size_t(p) * dim + half + j] = std::cos(t);
      }
    }
    return table;
  }

  // A setting: "encoder/X" (revision 5 on) or the top-level "X" (before).
  std::optional<double> setting(const std::string& stack, const std::string& name) const {
    if (auto v = bin_.scalar(stack + "/" + name)) return v;
    if (bin_.revision() < 5) return bin_.scalar(name);
    return std::nullopt;
  }

  uint32_t count_layers(const std::string& stack) const {
    uint32_t n = 0;
    while (bin_.find(fmt::format("{}/layer_{}/ffn/linear_0/weight", stack, n))) ++n;
    if (n == 0) bin_.fail(fmt::format("has no {} layers ('{}/layer_0/ffn/linear_0/weight')", stack, stack));
    return n;
  }

  uint32_t heads(const std::string& stack) const {
    const auto v = setting(stack, "num_heads");
    // Before revision 3 the spec name said it; CTranslate2's default is 8.
    if (!v) return bin_.revision() < 3 && bin_.spec() == "TransformerBig" ? 16 : 8;
    if (!(*v >= 1 && *v <= 1024)) bin_.fail(fmt::format("has {}/num_heads = {}", stack, *v));
    return uint32_t(*v);
  }

  bool flag(const std::string& stack, const std::string& name, bool fallback) const {
    const auto v = setting(stack, name);
    return v ? *v != 0 : fallback;
  }

  Activation activation(const std::string& stack) const {
    const auto v = setting(stack, "activation").value_or(0);
    if (v == 0) return Activation::relu;
    if (v == 2) return Activation::swish;
    if (v == 3) return Activation::gelu;
    const char* names[] = {"relu", "gelu (tanh approximation)", "swish", "gelu", "gelu (sigmoid approximation)", "tanh"};
    bin_.fail(fmt::format("has {}/activation = {} ({}); supported: relu, gelu, swish", stack, v,
                          v >= 0 && v <= 5 && v == std::floor(v) ? names[int(v)] : "unknown"));
  }

  // CTranslate2's embedding scale: an int8 flag (true: sqrt(d)), or the value itself; absent: sqrt(d).
  float embedding_scale(const std::string& stack, const std::string& embeddings) const {
    const std::string names[] = {stack + "/scale_embeddings", embeddings + "/multiply_by_sqrt_depth"};
    const float root = std::sqrt(float(config_.d_model));
    for (const auto& name : names) {
      const Variable* v = bin_.find(name);
      if (!v) continue;
      const double value = *bin_.scalar(name);
      if (v->dtype == DType::i8) return value != 0 ? root : 1.0f;
      if (!std::isfinite(value)) bin_.fail(fmt::format("has {} = {}", name, value));
      return float(value);
    }
    return root;
  }

  void check_supported() const {
    const auto& spec = bin_.spec();
    if (spec != "TransformerSpec" && spec != "TransformerBase" && spec != "TransformerBig" && !spec.empty()) {
      bin_.fail(fmt::format("holds a {} model; only Transformer encoder-decoder models (TransformerSpec) are supported",
                            spec));
    }
    if (bin_.revision() > kMaxSpecRevision) {
      bin_.fail(fmt::format("has spec revision {}; revisions up to {} are supported", bin_.revision(), kMaxSpecRevision));
    }
    for (const auto& [name, variable] : bin_.variables()) {
      if (variable.dtype == DType::i32 && variable.elements != 1) {
        bin_.fail(fmt::format("variable '{}' holds int32; weights must be float or int8/int16", name));
      }
      for (const auto& u : kUnsupported) {
        if (name.find(u.fragment) != std::string::npos) {
          bin_.fail(fmt::format("uses {} (variable '{}'), which vkformer does not support", u.feature, name));
        }
      }
      // (The spec's "decoder/multi_query_attention" is set for plain models too; "num_heads_kv" and config.json's
      // multi_query_attention say it.)
      if ((name.ends_with("/alibi") || name.ends_with("/multi_query")) && bin_.scalar(name).value_or(0) != 0) {
        bin_.fail(fmt::format("uses {} (variable '{}'), which vkformer does not support", name.substr(name.rfind('/') + 1), name));
      }
      if (name.ends_with("layer_norm/gamma") && !bin_.find(name.substr(0, name.size() - 5) + "beta")) {
        bin_.fail(fmt::format("uses RMS normalization ('{}' without a beta), which vkformer does not support", name));
      }
      if (name.ends_with("queries_scale")) {
        bin_.fail(fmt::format("uses a custom attention scale (variable '{}'), which vkformer does not support", name));
      }
    }
  }

  void read_config() {
    check_supported();
    auto& c = config_;
    encoder_embeddings_ = bin_.find("encoder/embeddings/weight") ? "encoder/embeddings" : "encoder/embeddings_0";
    const Variable& source = bin_.get(encoder_embeddings_ + "/weight");
    const Variable& target = bin_.get("decoder/embeddings/weight");
    if (source.shape.size() != 2 || target.shape.size() != 2 || source.shape[1] != target.shape[1]) {
      bin_.fail(fmt::format("has embeddings of shapes [{}] and [{}]; they must be [vocabulary, d_model] of one d_model",
                            fmt::join(source.shape, ", "), fmt::join(target.shape, ", ")));
    }
    c.d_model = uint32_t(source.shape[1]);
    c.source_vocab_size = uint32_t(source.shape[0]);
    c.vocab_size = uint32_t(target.shape[0]);
    c.encoder_layers = count_layers("encoder");
    c.decoder_layers = count_layers("decoder");
    c.encoder_heads = heads("encoder");
    c.decoder_heads = heads("decoder");
    if (c.d_model % c.encoder_heads || c.d_model % c.decoder_heads) {
      bin_.fail(fmt::format("has d_model {} not divisible by the heads ({} encoder, {} decoder)", c.d_model,
                            c.encoder_heads, c.decoder_heads));
    }
    c.encoder_ffn = uint32_t(bin_.get("encoder/layer_0/ffn/linear_0/weight").shape.at(0));
    c.decoder_ffn = uint32_t(bin_.get("decoder/layer_0/ffn/linear_0/weight").shape.at(0));
    c.activation = activation("encoder");
    if (activation("decoder") != c.activation) bin_.fail("has different encoder and decoder activations");
    c.pre_norm = flag("encoder", "pre_norm", true);
    if (flag("decoder", "pre_norm", true) != c.pre_norm) bin_.fail("has pre-norm in one stack and post-norm in the other");
    c.encoder_final_norm = bin_.find("encoder/layer_norm/gamma") != nullptr;
    c.decoder_final_norm = bin_.find("decoder/layer_norm/gamma") != nullptr;
    c.encoder_embedding_scale = embedding_scale("encoder", encoder_embeddings_);
    c.decoder_embedding_scale = embedding_scale("decoder", "decoder/embeddings");
    c.scale_embedding = *c.encoder_embedding_scale != 1.0f;
    c.start_from_zero_embedding = flag("decoder", "start_from_zero_embedding", false);
    c.tie_embeddings = false;  // the projection is its own variable (an alias where tied)
    c.position_table = true;
    const Variable* enc_pos = bin_.find("encoder/position_encodings/encodings");
    const Variable* dec_pos = bin_.find("decoder/position_encodings/encodings");
    if (bool(enc_pos) != bool(dec_pos)) bin_.fail("has stored position encodings in one stack only");
    if (enc_pos) {
      for (const Variable* p : {enc_pos, dec_pos}) {
        if (p->shape.size() != 2 || p->shape[1] != c.d_model) {
          bin_.fail(fmt::format("has position encodings of shape [{}]; they must be [positions, {}]",
                                fmt::join(p->shape, ", "), c.d_model));
        }
      }
      c.max_positions = uint32_t(std::min(enc_pos->shape[0], dec_pos->shape[0]));
    } else {
      if (c.d_model < 4 || c.d_model % 2) bin_.fail(fmt::format("has d_model {}: CTranslate2's sinusoid needs an even d_model of at least 4", c.d_model));
      c.max_positions = kComputedPositions;
    }
    c.alignment_layer = int32_t(setting("decoder", "alignment_layer").value_or(-1));
    c.alignment_heads = uint32_t(std::max(0.0, setting("decoder", "alignment_heads").value_or(1)));
    c.ctranslate2_decoding = true;
    c.max_length = kMaxDecodingLength + 1;  // counts the start token
    c.num_beams = 2;                         // translate_batch's defaults
    c.length_penalty = 1.0f;
    read_tokens();
  }

  // Special tokens: config.json from binary version 6, scalar flags and CTranslate2's defaults before.
  void read_tokens() {
    auto& c = config_;
    const auto vocabularies = read_ctranslate2_vocabularies(directory_);
    const auto vocab_path = [&](const char* which) { return (directory_ / fmt::format("{}_vocabulary", which)).string(); };
    if (vocabularies.source.size() != c.source_vocab_size) {
      throw Error(fmt::format("'{}': the source vocabulary has {} tokens but the model's embeddings have {} rows",
                              vocab_path(vocabularies.source == vocabularies.target ? "shared" : "source"),
                              vocabularies.source.size(), c.source_vocab_size));
    }
    if (vocabularies.target.size() != c.vocab_size) {
      throw Error(fmt::format("'{}': the target vocabulary has {} tokens but the model's decoder embeddings have {} rows",
                              vocab_path(vocabularies.source == vocabularies.target ? "shared" : "target"),
                              vocabularies.target.size(), c.vocab_size));
    }
    const Variable& projection = bin_.get("decoder/projection/weight");
    if (projection.shape != std::vector<uint64_t>{c.vocab_size, c.d_model}) {
      bin_.fail(fmt::format("variable 'decoder/projection/weight' has shape [{}] but the model implies [{}, {}]",
                            fmt::join(projection.shape, ", "), c.vocab_size, c.d_model));
    }
    std::string unk = "<unk>", bos = "<s>", eos = "</s>";
    c.add_source_bos = c.add_source_eos = false;
    std::optional<std::string> start;
    const auto config_path = directory_ / "config.json";
    std::error_code error;
    if (std::filesystem::exists(std::filesystem::symlink_status(config_path, error))) {
      const auto json = parse_json_object(read_model_file(config_path), config_path);
      const auto text = [&](const char* key, std::string& out) {
        if (!json.contains(key) || json[key].is_null()) return;
        if (!json[key].is_string()) throw Error(fmt::format("'{}': {} is {}; it must be a string", config_path.string(), key, brief(json[key])));
        out = json[key].get<std::string>();
      };
      const auto boolean = [&](const char* key, bool& out) {
        if (!json.contains(key) || json[key].is_null()) return;
        if (!json[key].is_boolean()) throw Error(fmt::format("'{}': {} is {}; it must be true or false", config_path.string(), key, brief(json[key])));
        out = json[key].get<bool>();
      };
      text("unk_token", unk);
      text("bos_token", bos);
      text("eos_token", eos);
      if (json.contains("decoder_start_token")) {
        if (json["decoder_start_token"].is_null()) {
          throw Error(fmt::format("'{}': decoder_start_token is null (the start token must come with the input); "
                                  "vkformer needs it set", config_path.string()));
        }
        std::string s;
        text("decoder_start_token", s);
        start = s;
      }
      boolean("add_source_bos", c.add_source_bos);
      boolean("add_source_eos", c.add_source_eos);
      bool multi_query = false;
      boolean("multi_query_attention", multi_query);
      if (multi_query) throw Error(fmt::format("'{}': multi_query_attention is true, which vkformer does not support", config_path.string()));
      if (json.contains("layer_norm_epsilon") && !json["layer_norm_epsilon"].is_null()) {
        const auto& e = json["layer_norm_epsilon"];
        if (!e.is_number() || !(e.get<double>() > 0 && e.get<double>() < 1)) {
          throw Error(fmt::format("'{}': layer_norm_epsilon is {}; it must be a number in (0, 1)", config_path.string(), brief(e)));
        }
        c.layer_norm_eps = float(e.get<double>());
      }
    } else {
      c.add_source_bos = bin_.scalar("with_source_bos").value_or(0) != 0;
      c.add_source_eos = bin_.scalar("with_source_eos").value_or(0) != 0;
    }
    if (!start) start = bin_.scalar("with_target_bos").value_or(1) != 0 ? bos : eos;
    const auto id = [&](const std::vector<std::string>& tokens, const std::string& token, const char* what) {
      const auto found = std::find(tokens.begin(), tokens.end(), token);
      if (found == tokens.end()) {
        throw Error(fmt::format("model directory '{}': the {} token '{}' is not in the vocabulary", directory_.string(),
                                what, printable(token)));
      }
      return uint32_t(found - tokens.begin());
    };
    c.eos_id = id(vocabularies.target, eos, "end");
    c.decoder_start_id = id(vocabularies.target, *start, "decoder start");
    c.unk_id = id(vocabularies.source, unk, "unknown");
    if (c.add_source_bos) c.bos_id = id(vocabularies.source, bos, "start");
    if (c.add_source_eos) id(vocabularies.source, eos, "end");
    c.pad_id = 0;  // padding positions are masked by length
  }

  std::filesystem::path directory_;
  ModelBin bin_;
  ModelConfig config_;
  std::string encoder_embeddings_;
};

}  // namespace

bool is_ctranslate2_model(const std::filesystem::path& directory) {
  std::error_code error;
  return std::filesystem::exists(std::filesystem::symlink_status(directory / "model.bin", error));
}

std::unique_ptr<ModelSource> open_ctranslate2_model(const std::filesystem::path& directory) {
  std::error_code error;
  const auto status = std::filesystem::status(directory, error);
  if (!std::filesystem::exists(status)) throw Error(fmt::format("model directory '{}' does not exist", directory.string()));
  if (!std::filesystem::is_directory(status)) throw Error(fmt::format("model path '{}' is not a directory", directory.string()));
  return std::make_unique<Ct2Model>(directory);
}

std::unique_ptr<ModelSource> open_model(const std::filesystem::path& directory) {
  return is_ctranslate2_model(directory) ? open_ctranslate2_model(directory) : open_marian_model(directory);
}

}  // namespace vkformer
