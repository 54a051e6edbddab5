#include <cstdio>
#include <exception>

#include <fmt/format.h>

#include "commands.hpp"
#include "vkformer/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"vkformer: transformer translation on any Vulkan device"};
  app.require_subcommand(1);
  vkformer::cli::Run run;
  vkformer::cli::add_translate(app, run);
  vkformer::cli::add_profile(app, run);
  vkformer::cli::add_devices(app, run);
  vkformer::cli::add_conformance(app, run);
  vkformer::cli::add_bench(app, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    return run();
  } catch (const vkformer::Error& e) {
    fmt::print(stderr, "vkformer: error: {}\n", e.what());
  } catch (const vk::SystemError& e) {
    fmt::print(stderr, "vkformer: Vulkan error: {}\n", e.what());
  } catch (const std::exception& e) {
    fmt::print(stderr, "vkformer: error: {}\n", e.what());
  }
  return 1;
}
