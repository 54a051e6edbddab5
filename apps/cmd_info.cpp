// `vkformer info`: what a model path holds (a Marian directory, a CTranslate2 directory, an Argos package).
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "io.hpp"
#include "model_path.hpp"
#include "vkformer/model/model_file.hpp"
#include "vkformer/model/package.hpp"
#include "vkformer/model/safetensors.hpp"

namespace vkformer::cli {

namespace {

using json = nlohmann::json;

// A float as its shortest decimal (0.2, not 0.20000000298023224 as the float widened to double prints).
double decimal(float value) { return std::stod(fmt::format("{}", value)); }

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::relu: return "relu";
    case Activation::gelu: return "gelu";
    case Activation::swish: return "swish";
    case Activation::none: break;
  }
  return "none";
}

json architecture(const ModelConfig& c) {
  return {{"encoder_layers", c.encoder_layers},
          {"decoder_layers", c.decoder_layers},
          {"d_model", c.d_model},
          {"encoder_heads", c.encoder_heads},
          {"decoder_heads", c.decoder_heads},
          {"encoder_ffn", c.encoder_ffn},
          {"decoder_ffn", c.decoder_ffn},
          {"source_vocab_size", c.source_vocab_size ? c.source_vocab_size : c.vocab_size},
          {"target_vocab_size", c.vocab_size},
          {"norm", c.pre_norm ? "pre" : "post"},
          {"activation", activation_name(c.activation)},
          {"positions", c.position_table ? "table" : "sinusoid"},
          {"max_positions", c.max_positions},
          {"tied_output", c.tie_embeddings}};
}

json tally(const std::map<std::string, std::pair<uint64_t, uint64_t>>& by_type, const char* what) {
  json types = json::object();
  uint64_t total = 0;
  for (const auto& [type, entry] : by_type) {
    types[type] = {{"tensors", entry.first}, {"bytes", entry.second}};
    total += entry.second;
  }
  return {{"what", what}, {"types", types}, {"bytes", total}};
}

// Every tensor of model.safetensors, by dtype.
json safetensors_weights(const std::filesystem::path& directory) {
  const SafetensorsFile file(directory / "model.safetensors");
  std::map<std::string, std::pair<uint64_t, uint64_t>> by_type;  // tensors, bytes
  for (const auto& [name, entry] : file.entries()) {
    auto& type = by_type[entry.dtype];
    type.first += 1;
    type.second += entry.end - entry.begin;
  }
  return tally(by_type, "tensors in model.safetensors");
}

// The weight matrices and embeddings as vkformer loads them (the names of ModelSource), by stored type, with
// their scales; a tensor two names share (tied embeddings) is counted once.
json stored_weights(const ModelSource& source) {
  const auto& c = source.config();
  const uint64_t d = c.d_model, v = c.vocab_size, sv = c.source_vocab_size ? c.source_vocab_size : v;
  std::vector<std::pair<std::string, std::vector<uint64_t>>> names = {
      {"encoder.embed_tokens.weight", {sv, d}}, {"decoder.embed_tokens.weight", {v, d}}, {"lm_head.weight", {v, d}}};
  for (uint32_t l = 0; l < c.encoder_layers; ++l) {
    const auto p = fmt::format("encoder.layers.{}.", l);
    const uint64_t f = c.encoder_ffn;
    names.insert(names.end(), {{p + "self_attn.qkv_proj.weight", {3 * d, d}},
                               {p + "self_attn.out_proj.weight", {d, d}},
                               {p + "fc1.weight", {f, d}},
                               {p + "fc2.weight", {d, f}}});
  }
  for (uint32_t l = 0; l < c.decoder_layers; ++l) {
    const auto p = fmt::format("decoder.layers.{}.", l);
    const uint64_t f = c.decoder_ffn;
    names.insert(names.end(), {{p + "self_attn.qkv_proj.weight", {3 * d, d}},
                               {p + "self_attn.out_proj.weight", {d, d}},
                               {p + "encoder_attn.q_proj.weight", {d, d}},
                               {p + "encoder_attn.kv_proj.weight", {2 * d, d}},
                               {p + "encoder_attn.out_proj.weight", {d, d}},
                               {p + "fc1.weight", {f, d}},
                               {p + "fc2.weight", {d, f}}});
  }
  std::map<std::string, std::pair<uint64_t, uint64_t>> by_type;  // tensors, bytes
  std::set<std::pair<Element, size_t>> seen;
  for (const auto& [name, shape] : names) {
    const auto stored = source.stored_weight(name, shape);
    const size_t hash = std::hash<std::string_view>()(
        std::string_view(reinterpret_cast<const char*>(stored.bytes.data()), stored.bytes.size()));
    if (!seen.insert({stored.element, hash}).second) continue;
    const uint64_t bytes = stored.bytes.size() + stored.scales.size() * sizeof(float);
    auto& entry = by_type[element_name(stored.element)];
    entry.first += 1;
    entry.second += bytes;
  }
  return tally(by_type, "weight matrices and embeddings, with their scales");
}

// model.bin's header: binary version, then (from version 2) the spec name and revision.
json ctranslate2_header(const std::filesystem::path& directory) {
  const auto path = directory / "model.bin";
  std::ifstream file(path, std::ios::binary);
  char head[4 + 2 + 256 + 4] = {};
  file.read(head, sizeof(head));
  const auto got = size_t(file.gcount());
  uint32_t version = 0;
  uint16_t length = 0;
  if (got >= 4) std::memcpy(&version, head, 4);
  json header = {{"binary_version", version}};
  if (version >= 2 && got >= 6) {
    std::memcpy(&length, head + 4, 2);
    if (length > 0 && size_t(6 + length + 4) <= got) {
      uint32_t revision = 0;
      std::memcpy(&revision, head + 6 + length, 4);
      header["spec"] = std::string(head + 6, length - 1);
      header["spec_revision"] = revision;
    }
  }
  return header;
}

json marian_languages(const std::filesystem::path& directory) {
  const auto path = directory / "tokenizer_config.json";
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) return nullptr;
  const auto config = parse_json_object(read_model_file(path), path);
  const auto text = [&](const char* key) -> json {
    const auto found = config.find(key);
    return found != config.end() && found->is_string() ? *found : json(nullptr);
  };
  if (text("source_lang").is_null() && text("target_lang").is_null()) return nullptr;
  return {{"source", text("source_lang")}, {"target", text("target_lang")}};
}

json describe(const ModelLocation& location) {
  const auto& c = location.model->config();
  json info = {{"model", location.given.string()}, {"model_directory", location.model_directory.string()}};
  if (location.format == ModelFormat::marian) {
    info["format"] = "marian";
    info["languages"] = marian_languages(location.model_directory);
  } else {
    info["format"] = "ctranslate2";
    info.update(ctranslate2_header(location.model_directory));
    info["languages"] = nullptr;
  }
  if (location.package) {
    const auto& p = *location.package;
    info["package"] = {{"kind", "argos"},
                       {"directory", p.directory.string()},
                       {"archive", p.archive.empty() ? json(nullptr) : json(p.archive.string())},
                       {"package_version", p.package_version},
                       {"argos_version", p.argos_version},
                       {"from_name", p.from_name},
                       {"to_name", p.to_name},
                       {"sentence_splitter", p.sentence_splitter.empty() ? json(nullptr) : json(p.sentence_splitter)},
                       {"readme", p.has_readme}};
    info["languages"] = {{"source", p.from_code}, {"target", p.to_code}};
  }
  info["architecture"] = architecture(c);
  info["weights"] = location.format == ModelFormat::marian ? safetensors_weights(location.model_directory)
                                                           : stored_weights(*location.model);
  const auto& tokenizer = *location.tokenizer;
  info["tokenizer"] = {{"kind", tokenizer_kind_name(tokenizer.kind())},
                       {"target_prefix", location.package && !location.package->target_prefix.empty()
                                             ? json(location.package->target_prefix)
                                             : json(nullptr)}};
  if (location.decoding) {
    const auto& d = *location.decoding;
    info["decoding"] = {{"source", "Argos Translate"},
                        {"beam", d.beam},
                        {"length_penalty", decimal(d.length_penalty)},
                        {"max_decoding_length", d.max_decoding_length},
                        {"min_decoding_length", d.min_decoding_length},
                        {"replace_unknowns", d.replace_unknowns}};
  } else {
    info["decoding"] = {{"source", "model"},
                        {"beam", c.num_beams},
                        {"length_penalty", decimal(c.length_penalty)},
                        {"max_length", c.max_length}};
  }
  return info;
}

std::string as_text(const json& info) {
  std::string text = fmt::format("model: {}\n", info["model"].get<std::string>());
  if (info["format"] == "marian") {
    text += "format: Hugging Face Marian (model.safetensors)\n";
  } else {
    text += fmt::format("format: CTranslate2 model.bin, binary version {}", info["binary_version"].dump());
    if (info.contains("spec")) {
      text += fmt::format(", {} revision {}", info["spec"].get<std::string>(), info["spec_revision"].dump());
    }
    text += "\n";
  }
  if (info.contains("package")) {
    const auto& p = info["package"];
    text += fmt::format("package: Argos Translate, version {}, in {}", p["package_version"].get<std::string>(),
                        p["directory"].get<std::string>());
    if (!p["sentence_splitter"].is_null()) {
      text += fmt::format("; sentence splitter {} (not used: translate --split-sentences has its own rule)",
                          p["sentence_splitter"].get<std::string>());
    }
    text += "\n";
  }
  const auto& languages = info["languages"];
  text += languages.is_null()
              ? "languages: not recorded\n"
              : fmt::format("languages: {} -> {}\n",
                            languages["source"].is_null() ? "?" : languages["source"].get<std::string>(),
                            languages["target"].is_null() ? "?" : languages["target"].get<std::string>());
  const auto& a = info["architecture"];
  text += fmt::format(
      "architecture: {} encoder and {} decoder layers, d_model {}, heads {}/{}, ffn {}/{}, vocabularies {} "
      "source / {} target, {}-norm, {}, {} positions (at most {})\n",
      a["encoder_layers"].dump(), a["decoder_layers"].dump(), a["d_model"].dump(), a["encoder_heads"].dump(),
      a["decoder_heads"].dump(), a["encoder_ffn"].dump(), a["decoder_ffn"].dump(), a["source_vocab_size"].dump(),
      a["target_vocab_size"].dump(), a["norm"].get<std::string>(), a["activation"].get<std::string>(),
      a["positions"].get<std::string>(), a["max_positions"].dump());
  std::string types;
  for (const auto& [type, entry] : info["weights"]["types"].items()) {
    types += fmt::format("{}{} x {} ({} bytes)", types.empty() ? "" : ", ", entry["tensors"].dump(), type,
                         entry["bytes"].dump());
  }
  text += fmt::format("weights: {} bytes ({}): {}\n", info["weights"]["bytes"].dump(),
                      info["weights"]["what"].get<std::string>(), types);
  const auto& t = info["tokenizer"];
  text += fmt::format("tokenizer: {}{}\n", t["kind"].get<std::string>(),
                      t["target_prefix"].is_null() ? "" : ", target prefix " + t["target_prefix"].get<std::string>());
  const auto& d = info["decoding"];
  text += d["source"] == "model"
              ? fmt::format("decoding: beam {}, length penalty {}, max length {} (the model's)\n", d["beam"].dump(),
                            d["length_penalty"].dump(), d["max_length"].dump())
              : fmt::format("decoding: beam {}, length penalty {}, at most {} tokens (Argos Translate's)\n",
                            d["beam"].dump(), d["length_penalty"].dump(), d["max_decoding_length"].dump());
  return text;
}

}  // namespace

void add_info(CLI::App& app, Run& run) {
  auto* command = app.add_subcommand(
      "info", "What a model holds: a Marian or CTranslate2 directory, or an Argos Translate package (.argosmodel)");
  auto model = std::make_shared<std::string>();
  auto json_output = std::make_shared<bool>(false);
  auto tokenized = std::make_shared<bool>(false);
  command->add_option("--model", *model, "Model directory or .argosmodel file (default: the shipped en-de model)");
  command->add_flag("--tokenized", *tokenized, "Describe the model as it takes pre-tokenized input");
  command->add_flag("--json", *json_output, "Print one JSON object");
  command->callback([&run, model, json_output, tokenized] {
    run = [model, json_output, tokenized] {
      const auto info = describe(locate_model(find_model(*model), *tokenized));
      write_output(*json_output ? info.dump() + "\n" : as_text(info));
      return 0;
    };
  });
}

}  // namespace vkformer::cli
