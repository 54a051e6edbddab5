#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "vkformer/conformance/conformance.hpp"
#include "vkformer/context.hpp"
#include "vkformer/error.hpp"

namespace vkformer::cli {

void add_conformance(CLI::App& app, Run& run) {
  auto* command = app.add_subcommand("conformance", "Check every shader against an fp64 CPU reference on this device");
  static ContextOptions options;
  static std::string op;
  static bool json = false;
  command->add_option("--device", options.device, "Device index or name substring");
  command->add_option("--tuning", options.tuning, "Tuning table entry (generic, nvidia, amd, intel, cpu)");
  command->add_option("--op", op, "Only cases of this op");
  command->add_flag("--validation", options.validation, "Enable Vulkan validation layers");
  command->add_flag("--json", json, "Print JSON");
  command->callback([&run] {
    run = [] {
      Context context(options);
      size_t failures = 0, ran = 0;
      nlohmann::json rows = nlohmann::json::array();
      if (!json) {
        fmt::print("device: {} | tuning: {}\n", context.info().name, context.tuning().name);
        fmt::print("{:<16} {:<22} {:>10} {:>10} {:>10} {:>9} {:>6}\n", "op", "shape", "max abs", "max rel", "nmse",
                   "ms", "result");
      }
      for (const auto& test : conformance::all_cases()) {
        if (!op.empty() && test.op != op) continue;
        const auto r = test.run(context);
        ++ran;
        failures += !r.passed;
        const auto& c = r.comparison;
        if (json) {
          rows.push_back({{"op", r.op}, {"shape", r.shape}, {"max_abs", c.max_abs}, {"max_rel", c.max_rel},
                          {"nmse", c.nmse}, {"ms", r.milliseconds}, {"passed", r.passed}, {"note", r.note}});
        } else {
          fmt::print("{:<16} {:<22} {:>10.2e} {:>10.2e} {:>10.2e} {:>9.3f} {:>6} {}\n", r.op, r.shape, c.max_abs,
                     c.max_rel, c.nmse, r.milliseconds, r.passed ? "pass" : "FAIL", r.note);
        }
      }
      if (ran == 0) throw Error(fmt::format("no conformance case for op '{}'", op));
      if (json) {
        fmt::print("{}\n", nlohmann::json{{"device", context.info().name}, {"tuning", context.tuning().name},
                                          {"cases", rows}, {"failures", failures}}.dump(2));
      } else {
        fmt::print("{} passed, {} failed\n", ran - failures, failures);
      }
      return failures ? 1 : 0;
    };
  });
}

}  // namespace vkformer::cli
