#include <cstdio>
#include <exception>
#include <new>

#include <fmt/format.h>

#include "commands.hpp"
#include "io.hpp"
#include "vkformer/error.hpp"
#include "vkformer/version.hpp"

namespace {

// Exit codes, as README.md documents them.
constexpr int kFailed = 1;    // bad input, model, device or output: one `vkformer: error:` line
constexpr int kBadUsage = 2;  // a bad command line: unknown option, bad value, missing subcommand

int fail(int code, const std::string& message) {
  fmt::print(stderr, "vkformer: error: {}\n", message);
  return code;
}

int run(const vkformer::cli::Run& command) {
  try {
    const int code = command();
    vkformer::cli::flush_output();
    return code;
  } catch (const vkformer::cli::UsageError& e) {
    return fail(kBadUsage, e.what());
  } catch (const vk::SystemError& e) {
    return fail(kFailed, fmt::format("Vulkan: {}", e.what()));
  } catch (const std::bad_alloc&) {
    return fail(kFailed, "out of host memory");
  } catch (const std::exception& e) {
    return fail(kFailed, e.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  vkformer::cli::guard_standard_streams();
  CLI::App app{"vkformer: transformer translation on any Vulkan device"};
  app.require_subcommand(1);
  app.set_version_flag("--version", fmt::format("vkformer {}", vkformer::version()));
  app.footer("Exit codes: 0 success; 1 the run failed (bad input line, model, device, output); "
             "2 bad command line. `vkformer COMMAND --help` for each command's options.");
  vkformer::cli::Run command;
  vkformer::cli::add_translate(app, command);
  vkformer::cli::add_profile(app, command);
  vkformer::cli::add_devices(app, command);
  vkformer::cli::add_conformance(app, command);
  vkformer::cli::add_bench(app, command);
  vkformer::cli::add_info(app, command);
  vkformer::cli::add_serve(app, command);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() != int(CLI::ExitCodes::Success)) return fail(kBadUsage, e.what());
    return run([&] { return app.exit(e); });  // --help: its output is checked like any other
  }
  return run(command);
}
