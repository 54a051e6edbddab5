// The VkPipelineCache persisted on disk, so that shaders are compiled by the driver once per device and
// driver version rather than on every run.
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <system_error>

#include <fmt/format.h>

#include "vkformer/context.hpp"

namespace vkformer {

static std::filesystem::path cache_directory() {
  if (const char* dir = std::getenv("VKFORMER_CACHE_DIR"); dir && *dir) return dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::filesystem::path(xdg) / "vkformer";
  if (const char* home = std::getenv("HOME"); home && *home) return std::filesystem::path(home) / ".cache/vkformer";
  return {};
}

// The header every driver writes first (VkPipelineCacheHeaderVersionOne); data whose header does not match
// this device and driver is dropped rather than handed to the driver.
static bool header_matches(const std::vector<char>& data, const vk::PhysicalDeviceProperties& props) {
  if (data.size() < 32) return false;
  uint32_t fields[4];
  std::memcpy(fields, data.data(), sizeof(fields));
  return fields[0] >= 32 && fields[1] == uint32_t(vk::PipelineCacheHeaderVersion::eOne) &&
         fields[2] == props.vendorID && fields[3] == props.deviceID &&
         std::memcmp(data.data() + 16, props.pipelineCacheUUID.data(), VK_UUID_SIZE) == 0;
}

void Context::load_pipeline_cache(bool enabled) {
  std::vector<char> data;
  const auto props = physical_.getProperties();
  const auto dir = enabled ? cache_directory() : std::filesystem::path{};
  if (!dir.empty()) {
    pipeline_cache_path_ = dir / fmt::format("pipelines-{:04x}-{:04x}-{:08x}.bin", props.vendorID, props.deviceID,
                                             props.driverVersion);
    std::ifstream file(pipeline_cache_path_, std::ios::binary);
    data.assign(std::istreambuf_iterator<char>(file), {});
    if (!header_matches(data, props)) data.clear();
  }
  pipeline_cache_ = device_.createPipelineCache({.initialDataSize = data.size(), .pInitialData = data.data()});
}

void Context::save_pipeline_cache() const {
  if (pipeline_cache_path_.empty() || kernels_.empty()) return;
  const auto data = device_.getPipelineCacheData(pipeline_cache_);
  std::error_code error;
  std::filesystem::create_directories(pipeline_cache_path_.parent_path(), error);
  // Write beside and rename, so a crash or a second process never leaves a half-written cache.
  const auto temporary = pipeline_cache_path_.string() + fmt::format(".{}.tmp", reinterpret_cast<uintptr_t>(this));
  {
    std::ofstream file(temporary, std::ios::binary);
    file.write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size()));
    if (!file) return;
  }
  std::filesystem::rename(temporary, pipeline_cache_path_, error);
  if (error) std::filesystem::remove(temporary, error);
}

}  // namespace vkformer
