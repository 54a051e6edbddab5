#pragma once
// vkformer::Translator: one translation model on one Vulkan device.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vkformer/decode.hpp"
#include "vkformer/export.hpp"

namespace vkformer {

// How the weight matrices are stored on the device; compute is f32 whatever they are. i8 is quantized
// per row as CTranslate2 does; f16 needs a device that reads f16 texel buffers (an Error says so otherwise).
enum class Precision { f32, f16, bf16, i8, i16 };

struct TranslatorOptions {
  // A device index or a case-insensitive substring of its name (devices()); empty: the VKFORMER_DEVICE
  // environment variable, then the best device (discrete GPU, integrated, virtual, CPU).
  std::string device;
  std::optional<Precision> precision;  // unset: as the model stores them (a Marian model: f16 where its matrices are, else f32)
  // translate_text takes tokens separated by spaces and gives them back so, for any model.
  bool tokenized = false;
  // CPU drivers (lavapipe) only: worker threads; 0 runs each dispatch on the calling thread, which was
  // faster for a small model translating a sentence at a time (docs/BENCHMARKS.md). Unset: the
  // LP_NUM_THREADS environment variable, then one per core.
  std::optional<uint32_t> cpu_threads;
};

// Thread safety: every member function may be called from any thread; calls on one Translator are
// serialised (one batch at a time on its device), so threads that share one wait for each other. Use a
// Translator per device for parallel work. Each Translator opens its own Vulkan device.
//
// Errors: every failure (bad model, input or options, no device, out of host or device memory, a lost
// device) is a vkformer::Error with a one-line message; nothing else is thrown. After an Error the
// Translator stays usable, except after a lost device.
class VKFORMER_API Translator {
 public:
  // A Hugging Face Marian directory, a CTranslate2 model directory (model.bin) or an Argos Translate
  // package (.argosmodel, or its unpacked directory); uploads the weights.
  explicit Translator(const std::filesystem::path& model_path, const TranslatorOptions& options = {});
  ~Translator();
  Translator(Translator&&) noexcept;  // the moved-from Translator may only be destroyed or assigned
  Translator& operator=(Translator&&) noexcept;

  // What the model's own runtime would do: transformers' generate() with generation_config.json's
  // num_beams (at most kMaxBeam) and length_penalty for a Marian directory, CTranslate2's translate_batch
  // defaults for model.bin, argostranslate's for a package (beam 4, length penalty 0.2, its target prefix).
  DecodeOptions model_decode_options() const;

  // One Translation per line, in order; hypotheses' text and ids. An Error for one line names it by its
  // index: "source[1]: input is not valid UTF-8", "source[0]: input of 300 tokens is longer than the
  // model's 256 positions".
  std::vector<Translation> translate_text(const std::vector<std::string>& lines, const DecodeOptions& options) const;

  // Pre-tokenized input, as CTranslate2's translate_batch takes it: each token through the source
  // vocabulary (one not in it is <unk>). A Marian model's tokens are used as given, so they end with
  // "</s>" as MarianTokenizer makes them; a CTranslate2 model or package adds the start and end tokens its
  // config.json asks for. Hypotheses' tokens stop before </s> (a target prefix kept) and carry no text.
  std::vector<Translation> translate_tokens(const std::vector<std::vector<std::string>>& sources,
                                            const DecodeOptions& options) const;

  std::string device_name() const;
  // An Argos Translate package's languages ("en", "de"); empty for a model directory, which does not say.
  std::string source_language() const;
  std::string target_language() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vkformer
