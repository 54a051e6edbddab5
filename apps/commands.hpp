#pragma once
#include <functional>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "vkformer/buffer.hpp"
#include "vkformer/context.hpp"
#include "vkformer/error.hpp"

// Each subcommand registers its options and sets `run`; main() runs the chosen one and turns errors into
// one line on stderr and a non-zero exit.
namespace vkformer::cli {

using Run = std::function<int()>;

void add_devices(CLI::App& app, Run& run);
void add_conformance(CLI::App& app, Run& run);
void add_bench(CLI::App& app, Run& run);
void add_translate(CLI::App& app, Run& run);
void add_profile(CLI::App& app, Run& run);
void add_info(CLI::App& app, Run& run);
void add_serve(CLI::App& app, Run& run);
// `vkformer bench` subcommands, each in its own file.
void add_bench_ops(CLI::App& bench, Run& run);
void add_bench_translate(CLI::App& bench, Run& run);

// A command line that is wrong in a way only seen when the command runs (--n-best above the model's beam):
// reported like CLI11's parse errors, with exit code 2.
class UsageError : public Error {
 public:
  using Error::Error;
};

// --device (index or name substring) and --tuning (a tuning table entry), checked while parsing.
void add_device_options(CLI::App* command, ContextOptions& context);
// --precision f32|f16|bf16|i8|i16: how bench ops' B is stored on the device (default f32).
void add_precision_option(CLI::App* command, Element& precision, const std::string& description);
// The options of every command that runs a model: --model, the device options, and --precision (unset:
// the weights as the model stores them).
void add_model_options(CLI::App* command, std::string& model, ContextOptions& context,
                       std::optional<Element>& precision);
// --precision of a model alone.
void add_weights_option(CLI::App* command, std::optional<Element>& precision);
// Accepts a finite number in [low, high]; CLI11's Range lets NaN through.
CLI::Validator finite_between(double low, double high);
// Accepts a finite number above 0 and at most `high`.
CLI::Validator finite_above_zero(double high);

}  // namespace vkformer::cli
