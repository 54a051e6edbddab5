#pragma once
// The version `vkformer --version` and `devices --json` report: project(VERSION) of CMakeLists.txt when the
// build passes it as VKFORMER_VERSION, else this copy of it.
#ifndef VKFORMER_VERSION
#define VKFORMER_VERSION "0.1.0"
#endif

namespace vkformer::cli {
constexpr const char* kVersion = VKFORMER_VERSION;
}  // namespace vkformer::cli
