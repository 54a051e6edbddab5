#pragma once
#include <functional>

#include <CLI/CLI.hpp>

// Each subcommand registers its options and sets `run`; main() runs the chosen one and turns errors into
// one line on stderr and a non-zero exit.
namespace vkformer::cli {

using Run = std::function<int()>;

void add_devices(CLI::App& app, Run& run);
void add_conformance(CLI::App& app, Run& run);

}  // namespace vkformer::cli
