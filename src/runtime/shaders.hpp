#pragma once
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>

namespace vkformer::shaders {

// The SPIR-V of every shaders/*.comp, embedded at build time (cmake/Shaders.cmake).
const std::map<std::string, std::span<const uint32_t>, std::less<>>& registry();

std::span<const uint32_t> find(std::string_view name);

}  // namespace vkformer::shaders
