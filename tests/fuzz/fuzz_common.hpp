#pragma once
// What every harness checks beyond the sanitizers: a reader may only throw vkformer::Error (anything
// else escapes and libFuzzer reports it), and its message must be one line, as the CLI prints it.
#include <cstdlib>
#include <string>

#include "vkformer/error.hpp"

namespace vkformer::fuzz {

template <typename Body>
void expect_only_errors(Body body) {
  try {
    body();
  } catch (const Error& e) {
    if (std::string(e.what()).find('\n') != std::string::npos) std::abort();
  }
}

}  // namespace vkformer::fuzz
