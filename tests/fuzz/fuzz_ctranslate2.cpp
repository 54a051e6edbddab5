// The CTranslate2 reader on arbitrary model.bin bytes beside a tiny model's config.json and vocabulary:
// the header and records, the spec's mapping to a ModelConfig, then every weight the engine would read.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "fuzz_common.hpp"
#include "vkformer/model/ctranslate2.hpp"

namespace {

// A directory of its own (model.bin is rewritten for every input), with the model's other files.
const std::filesystem::path& directory() {
  static const std::filesystem::path path = [] {
    auto p = std::filesystem::temp_directory_path() / fmt::format("vkformer-fuzz-ct2-{}", ::getpid());
    std::filesystem::create_directories(p);
    for (const char* file : {"config.json", "shared_vocabulary.json"}) {
      std::filesystem::copy_file(std::filesystem::path(VKFORMER_FUZZ_MODEL) / file, p / file,
                                 std::filesystem::copy_options::overwrite_existing);
    }
    return p;
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::ofstream(directory() / "model.bin", std::ios::binary).write(reinterpret_cast<const char*>(data), size);
  vkformer::fuzz::expect_only_errors([&] {
    const auto model = vkformer::open_ctranslate2_model(directory());
    const auto& c = model->config();
    const uint64_t d = c.d_model;
    const auto read = [&](const std::string& name, std::vector<uint64_t> shape) {
      vkformer::fuzz::expect_only_errors([&] { model->stored_weight(name, shape); });
    };
    read("encoder.embed_tokens.weight", {c.source_vocab_size, d});
    read("lm_head.weight", {c.vocab_size, d});
    vkformer::fuzz::expect_only_errors([&] { model->weight("final_logits_bias", {1, c.vocab_size}); });
    for (uint32_t l = 0; l < c.decoder_layers; ++l) {
      const auto p = fmt::format("decoder.layers.{}.", l);
      read(p + "self_attn.qkv_proj.weight", {3 * d, d});
      read(p + "encoder_attn.kv_proj.weight", {2 * d, d});
      read(p + "fc1.weight", {c.decoder_ffn, d});
      vkformer::fuzz::expect_only_errors([&] { model->weight(p + "final_layer_norm.weight", {d}); });
    }
  });
  return 0;
}
