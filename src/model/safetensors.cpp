#include "vkformer/model/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "vkformer/error.hpp"
#include "vkformer/half.hpp"

namespace vkformer {

static size_t dtype_bytes(const std::string& dtype) {
  if (dtype == "F32") return 4;
  if (dtype == "F16" || dtype == "BF16") return 2;
  return 0;
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw Error(fmt::format("cannot open model weights '{}': {}", path.string(), std::strerror(errno)));
  struct stat info {};
  ::fstat(fd, &info);
  mapping_size_ = size_t(info.st_size);
  if (mapping_size_ < 8) {
    ::close(fd);
    throw Error(fmt::format("'{}' is not a safetensors file: only {} bytes", path.string(), mapping_size_));
  }
  mapping_ = ::mmap(nullptr, mapping_size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (mapping_ == MAP_FAILED) {
    mapping_ = nullptr;
    throw Error(fmt::format("cannot map '{}': {}", path.string(), std::strerror(errno)));
  }
  const auto* bytes = static_cast<const uint8_t*>(mapping_);
  uint64_t header_size = 0;
  std::memcpy(&header_size, bytes, 8);
  if (header_size > mapping_size_ - 8) {
    throw Error(fmt::format("'{}' is truncated or corrupt: header of {} bytes in a file of {} bytes", path.string(),
                            header_size, mapping_size_));
  }
  data_ = bytes + 8 + header_size;
  const uint64_t data_size = mapping_size_ - 8 - header_size;
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes + 8, bytes + 8 + header_size);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("'{}' has a corrupt header: {}", path.string(), e.what()));
  }
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") continue;
    try {
      Entry entry{.dtype = value.at("dtype").get<std::string>(),
                  .shape = value.at("shape").get<std::vector<uint64_t>>(),
                  .begin = value.at("data_offsets").at(0).get<uint64_t>(),
                  .end = value.at("data_offsets").at(1).get<uint64_t>()};
      if (entry.end < entry.begin || entry.end > data_size) {
        throw Error(fmt::format("'{}' is truncated: tensor '{}' ends at byte {} of a {}-byte data section",
                                path.string(), name, entry.end, data_size));
      }
      entries_.emplace(name, std::move(entry));
    } catch (const nlohmann::json::exception& e) {
      throw Error(fmt::format("'{}': malformed header entry for tensor '{}': {}", path.string(), name, e.what()));
    }
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (mapping_) ::munmap(mapping_, mapping_size_);
}

const SafetensorsFile::Entry& SafetensorsFile::entry(const std::string& name) const {
  const auto found = entries_.find(name);
  if (found == entries_.end()) throw Error(fmt::format("'{}' has no tensor '{}'", path_.string(), name));
  return found->second;
}

std::vector<float> SafetensorsFile::read_f32(const std::string& name, const std::vector<uint64_t>& expected_shape) const {
  const Entry& e = entry(name);
  if (e.shape != expected_shape) {
    throw Error(fmt::format("'{}': tensor '{}' has shape [{}] but the config implies [{}]", path_.string(), name,
                            fmt::join(e.shape, ", "), fmt::join(expected_shape, ", ")));
  }
  const size_t element_bytes = dtype_bytes(e.dtype);
  if (!element_bytes) {
    throw Error(fmt::format("'{}': tensor '{}' has dtype {}; F32, F16 and BF16 are supported", path_.string(), name, e.dtype));
  }
  uint64_t count = 1;
  for (uint64_t d : e.shape) count *= d;
  if (e.end - e.begin != count * element_bytes) {
    throw Error(fmt::format("'{}': tensor '{}' holds {} bytes, expected {}", path_.string(), name, e.end - e.begin,
                            count * element_bytes));
  }
  std::vector<float> values(count);
  const uint8_t* source = data_ + e.begin;
  for (uint64_t i = 0; i < count; ++i) {
    if (e.dtype == "F32") {
      std::memcpy(&values[i], source + 4 * i, 4);
    } else {
      uint16_t raw;
      std::memcpy(&raw, source + 2 * i, 2);
      if (e.dtype == "F16") {
        values[i] = half_to_float(raw);
      } else {
        const uint32_t bits = uint32_t(raw) << 16;
        std::memcpy(&values[i], &bits, 4);
      }
    }
  }
  return values;
}

}  // namespace vkformer
