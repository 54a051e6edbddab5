// Translates sentences with a Marian model directory: translate_example MODEL_DIR SENTENCE...
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <vkformer/context.hpp>
#include <vkformer/translator.hpp>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL_DIR SENTENCE...\n", argv[0]);
    return 2;
  }
  try {
    vkformer::Context context;  // the best Vulkan device, or the one VKFORMER_DEVICE names
    vkformer::Translator translator(context, argv[1]);
    // The model's generation_config.json decides the beam size and length penalty, as transformers does.
    vkformer::DecodeOptions options = translator.model_decode_options();
    const std::vector<std::string> sentences(argv + 2, argv + argc);
    for (const auto& translation : translator.translate_text(sentences, options)) {
      std::printf("%s\n", translation.hypotheses.front().text.c_str());
    }
    return 0;
  } catch (const std::exception& e) {  // vkformer::Error: a bad model, input or device, in one line
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
