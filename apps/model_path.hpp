#pragma once
#include <cstdlib>
#include <filesystem>
#include <string>

#include <fmt/format.h>

#include "vkformer/error.hpp"

namespace vkformer::cli {

// The model to load: --model, else VKFORMER_MODEL, else the en-de model shipped beside the binary
// (../models/en-de, or ../share/vkformer/models/en-de when installed), else the source tree's.
inline std::filesystem::path find_model(const std::string& option) {
  if (!option.empty()) return option;
  if (const char* env = std::getenv("VKFORMER_MODEL"); env && *env) return env;
  std::error_code error;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", error).parent_path();
  for (const auto& candidate : {exe / "../models/en-de", exe / "../share/vkformer/models/en-de"}) {
    if (std::filesystem::exists(candidate / "config.json", error)) return candidate;
  }
  return VKFORMER_DEFAULT_MODEL;
}

// A model path that exists but is a file other than an Argos package (.argosmodel) gets its own message;
// the loader reports a missing one.
inline std::filesystem::path resolve_model(const std::string& option) {
  auto path = find_model(option);
  std::error_code error;
  if (std::filesystem::exists(path, error) && !std::filesystem::is_directory(path, error) &&
      path.extension() != ".argosmodel") {
    throw Error(fmt::format("model '{}' is not a directory: give a model directory (config.json or model.bin) "
                            "or an .argosmodel package", path.string()));
  }
  return path;
}

}  // namespace vkformer::cli
