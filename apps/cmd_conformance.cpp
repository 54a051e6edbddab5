#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "io.hpp"
#include "vkformer/conformance/conformance.hpp"
#include "vkformer/context.hpp"
#include "vkformer/error.hpp"

namespace vkformer::cli {

void add_conformance(CLI::App& app, Run& run) {
  auto* command = app.add_subcommand("conformance", "Check every shader against an fp64 CPU reference on this device");
  static ContextOptions options;
  static std::string op;
  static bool json = false;
  add_device_options(command, options);
  command->add_option("--op", op, "Only cases of this op");
  command->add_flag("--validation", options.validation, "Enable Vulkan validation layers");
  command->add_flag("--json", json, "Print JSON");
  command->callback([&run] {
    run = [] {
      auto cases = conformance::all_cases();
      if (!op.empty()) std::erase_if(cases, [](const conformance::Case& c) { return c.op != op; });
      if (cases.empty()) throw UsageError(fmt::format("--op '{}': no conformance case has this op", op));
      Context context(options);
      size_t failures = 0, skipped = 0;
      nlohmann::json rows = nlohmann::json::array();
      if (!json) {
        out("device: {} | tuning: {}\n", context.info().name, context.tuning().name);
        out("{:<16} {:<22} {:>10} {:>10} {:>10} {:>9} {:>6}\n", "op", "shape", "max abs", "max rel", "nmse",
            "ms", "result");
      }
      for (const auto& test : cases) {
        const auto r = test.run(context);
        failures += !r.passed && !r.skipped;
        skipped += r.skipped;
        const auto& c = r.comparison;
        if (json) {
          rows.push_back({{"op", r.op}, {"shape", r.shape}, {"max_abs", c.max_abs}, {"max_rel", c.max_rel},
                          {"nmse", c.nmse}, {"ms", r.milliseconds}, {"passed", r.passed}, {"skipped", r.skipped},
                          {"note", r.note}});
        } else {
          out("{:<16} {:<22} {:>10.2e} {:>10.2e} {:>10.2e} {:>9.3f} {:>6} {}\n", r.op, r.shape, c.max_abs,
              c.max_rel, c.nmse, r.milliseconds, r.passed ? "pass" : r.skipped ? "skip" : "FAIL", r.note);
        }
      }
      if (json) {
        out("{}\n", nlohmann::json{{"device", context.info().name}, {"tuning", context.tuning().name},
                                   {"cases", rows}, {"failures", failures}, {"skipped", skipped}}.dump(2));
      } else {
        out("{} passed, {} failed, {} skipped (not applicable here)\n", cases.size() - failures - skipped, failures,
            skipped);
      }
      // A validation message is a bug in how a kernel uses Vulkan, even where its results were right.
      if (const uint32_t messages = context.validation_messages()) {
        throw Error(fmt::format("the validation layers reported {} message(s) (printed above)", messages));
      }
      return failures ? 1 : 0;
    };
  });
}

}  // namespace vkformer::cli
