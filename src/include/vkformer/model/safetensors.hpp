#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
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
    uint64_t elements = 0;        // the product of shape
    uint64_t begin = 0, end = 0;  // byte offsets into the data section
  };

  explicit SafetensorsFile(const std::filesystem::path& path);
  // The file's bytes already in memory (they must outlive this object); `path` names it in messages.
  SafetensorsFile(std::span<const uint8_t> bytes, const std::filesystem::path& path);
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  const Entry& entry(const std::string& name) const;
  const std::map<std::string, Entry>& entries() const { return entries_; }
  // The tensor converted to float32, after checking its shape; a NaN or infinity in it is an Error.
  std::vector<float> read_f32(const std::string& name, const std::vector<uint64_t>& expected_shape) const;
  const std::filesystem::path& path() const { return path_; }

 private:
  void parse(std::span<const uint8_t> file);

  std::filesystem::path path_;
  std::map<std::string, Entry> entries_;
  std::span<const uint8_t> data_;            // the data section
  std::shared_ptr<const uint8_t> mapping_;  // unmaps the file, even when the constructor throws
};

}  // namespace vkformer
