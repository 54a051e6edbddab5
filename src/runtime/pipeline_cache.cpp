// The VkPipelineCache persisted on disk, so that shaders are compiled by the driver once per device and
// driver version rather than on every run.
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
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

// Anything but a regular file (a FIFO would block the open) is no cache; a failed read is an empty one.
static std::vector<char> read_regular_file(const std::filesystem::path& path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) return {};
  std::ifstream file(path, std::ios::binary);
  std::vector<char> data(std::istreambuf_iterator<char>(file), {});
  if (file.bad()) return {};
  return data;
}

// Unique among processes sharing the cache directory (and among Contexts of one process).
static std::string temporary_suffix() {
  std::random_device random;
  return fmt::format(".{}-{:08x}{:08x}.tmp", getpid(), random(), random());
}

void Context::load_pipeline_cache(bool enabled) {
  std::vector<char> data;
  const auto props = physical_.getProperties();
  const auto dir = enabled ? cache_directory() : std::filesystem::path{};
  if (!dir.empty()) {
    pipeline_cache_path_ = dir / fmt::format("pipelines-{:04x}-{:04x}-{:08x}.bin", props.vendorID, props.deviceID,
                                             props.driverVersion);
    data = read_regular_file(pipeline_cache_path_);
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
  const auto temporary = pipeline_cache_path_.string() + temporary_suffix();
  std::ofstream file(temporary, std::ios::binary);
  file.write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size()));
  file.close();
  if (!file.fail()) std::filesystem::rename(temporary, pipeline_cache_path_, error);
  if (file.fail() || error) std::filesystem::remove(temporary, error);
}

}  // namespace vkformer
