#pragma once
#include "vkformer/export.hpp"

namespace vkformer {

// The library's version, "0.1.0": that of the binary linked, which a header cannot know.
VKFORMER_API const char* version();

}  // namespace vkformer
