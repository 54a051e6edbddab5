#include "vkformer/version.hpp"

namespace vkformer {

// VKFORMER_VERSION: project(VERSION) of CMakeLists.txt, defined for this file alone.
const char* version() { return VKFORMER_VERSION; }

}  // namespace vkformer
