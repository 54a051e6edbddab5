#pragma once
#include <stdexcept>
#include <string>

#include "vkformer/export.hpp"

namespace vkformer {

// Every failure a user can cause or meet (bad model, no device, out of memory) is an Error whose
// message is one complete line, ready to print. Exported, so that it is caught by its type across a
// shared library's boundary.
class VKFORMER_API Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace vkformer
