#include "commands.hpp"

namespace vkformer::cli {

void add_bench(CLI::App& app, Run& run) {
  auto* bench = app.add_subcommand("bench", "Measure speed (ops: kernel throughput; translate: end-to-end translation)");
  bench->require_subcommand(1);
  add_bench_ops(*bench, run);
  add_bench_translate(*bench, run);
}

}  // namespace vkformer::cli
