#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "io.hpp"
#include "model_path.hpp"
#include "vkformer/model/model.hpp"

namespace vkformer::cli {

namespace {
nlohmann::json describe(const ModelConfig& c) {
  return {{"d_model", c.d_model}, {"vocab_size", c.vocab_size}, {"max_positions", c.max_positions},
          {"encoder_layers", c.encoder_layers}, {"decoder_layers", c.decoder_layers},
          {"encoder_heads", c.encoder_heads}, {"decoder_heads", c.decoder_heads},
          {"encoder_ffn", c.encoder_ffn}, {"decoder_ffn", c.decoder_ffn}, {"num_beams", c.num_beams},
          {"length_penalty", c.length_penalty}, {"max_length", c.max_length}};
}
}  // namespace

void add_info(CLI::App& app, Run& run) {
  auto* command = app.add_subcommand("info", "What a model directory holds: architecture and decoding defaults");
  auto model = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  command->add_option("--model", *model, "Model directory (default: the shipped en-de model)");
  command->add_flag("--json", *json, "Print one JSON object");
  command->callback([&run, model, json] {
    run = [model, json] {
      const auto path = resolve_model(*model);
      const auto info = describe(open_marian_model(path)->config());
      if (*json) {
        write_output(nlohmann::json{{"model", path.string()}, {"format", "marian"}, {"architecture", info}}.dump() + "\n");
      } else {
        std::string text = fmt::format("model: {}\nformat: Hugging Face Marian (model.safetensors)\n", path.string());
        for (const auto& [key, value] : info.items()) text += fmt::format("{}: {}\n", key, value.dump());
        write_output(text);
      }
      return 0;
    };
  });
}

}  // namespace vkformer::cli
