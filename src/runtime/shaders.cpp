#include "shaders.hpp"

#include <fmt/format.h>

#include "vkformer/error.hpp"

namespace vkformer::shaders {

std::span<const uint32_t> find(std::string_view name) {
  const auto& table = registry();
  const auto found = table.find(name);
  if (found == table.end()) throw Error(fmt::format("no embedded shader named '{}'", name));
  return found->second;
}

}  // namespace vkformer::shaders
