// Translates sentences: translate_example MODEL SENTENCE... (a Marian or CTranslate2 model directory, or
// an Argos Translate package).
#include <cstdio>
#include <string>
#include <vector>

#include <vkformer/vkformer.hpp>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL SENTENCE...\n", argv[0]);
    return 2;
  }
  try {
    // The best Vulkan device, or the one VKFORMER_DEVICE names (TranslatorOptions::device picks another).
    const vkformer::Translator translator(argv[1]);
    // The model's own decoding: a Marian model's generation_config.json decides the beam size and length
    // penalty, as transformers does.
    const vkformer::DecodeOptions options = translator.model_decode_options();
    const std::vector<std::string> sentences(argv + 2, argv + argc);
    for (const auto& translation : translator.translate_text(sentences, options)) {
      std::printf("%s\n", translation.hypotheses.front().text.c_str());
    }
    return 0;
  } catch (const vkformer::Error& e) {  // every failure: a bad model, input or device, in one line
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
