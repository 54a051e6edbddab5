#pragma once
#include <functional>

#include <CLI/CLI.hpp>

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

}  // namespace vkformer::cli
