#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace vkformer {

// A memory-mapped .safetensors file: an 8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape and byte range, then the raw data. Every range is checked against the file.
class SafetensorsFile {
 public:
  struct Entry {
    std::string dtype;  // F32, F16 or BF16 are readable
    std::vector<uint64_t> shape;
    uint64_t begin = 0, end = 0;  // byte offsets into the data section
  };

  explicit SafetensorsFile(const std::filesystem::path& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  const Entry& entry(const std::string& name) const;
  // The tensor converted to float32, after checking its shape.
  std::vector<float> read_f32(const std::string& name, const std::vector<uint64_t>& expected_shape) const;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::map<std::string, Entry> entries_;
  const uint8_t* data_ = nullptr;  // start of the data section
  void* mapping_ = nullptr;
  size_t mapping_size_ = 0;
};

}  // namespace vkformer
