#pragma once
#include <stdexcept>
#include <string>

namespace vkformer {

// Every failure a user can cause or meet (bad model, no device, out of memory) is an Error whose
// message is one complete line, ready to print.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace vkformer
