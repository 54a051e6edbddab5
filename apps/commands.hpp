#pragma once
#include <functional>
#include <map>
#include <string>

#include <CLI/CLI.hpp>

#include "vkformer/buffer.hpp"
#include "vkformer/context.hpp"

// Each subcommand registers its options and sets `run`; main() runs the chosen one and turns errors into
// one line on stderr and a non-zero exit.
namespace vkformer::cli {

using Run = std::function<int()>;

void add_devices(CLI::App& app, Run& run);
void add_conformance(CLI::App& app, Run& run);
void add_bench(CLI::App& app, Run& run);
void add_translate(CLI::App& app, Run& run);
void add_profile(CLI::App& app, Run& run);
// `vkformer bench` subcommands, each in its own file.
void add_bench_ops(CLI::App& bench, Run& run);
void add_bench_translate(CLI::App& bench, Run& run);

// The options of every command that runs a model: --model, --device, --tuning, and --precision f32|f16
// (how the model's matrices are stored on the device; compute is f32 either way).
inline void add_model_options(CLI::App* command, std::string& model, ContextOptions& context, Element& precision) {
  command->add_option("--model", model, "Model directory (Hugging Face Marian layout); default: the shipped en-de");
  command->add_option("--device", context.device, "Device index or name substring");
  command->add_option("--tuning", context.tuning, "Tuning table entry");
  static const std::map<std::string, Element> names{{"f32", Element::f32}, {"f16", Element::f16}};
  command->add_option("--precision", precision, "Weight matrices stored as f32 (default) or f16; compute is f32")
      ->transform(CLI::CheckedTransformer(names, CLI::ignore_case));
}

}  // namespace vkformer::cli
