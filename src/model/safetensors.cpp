#include "vkformer/model/safetensors.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "vkformer/error.hpp"
#include "vkformer/half.hpp"
#include "vkformer/model/model_file.hpp"

namespace vkformer {

namespace {

float f32_at(const uint8_t* p) {
  float value;
  std::memcpy(&value, p, 4);
  return value;
}

float f16_at(const uint8_t* p) {
  uint16_t raw;
  std::memcpy(&raw, p, 2);
  return half_to_float(raw);
}

float bf16_at(const uint8_t* p) {
  uint16_t raw;
  std::memcpy(&raw, p, 2);
  const uint32_t bits = uint32_t(raw) << 16;
  float value;
  std::memcpy(&value, &bits, 4);
  return value;
}

// Every dtype of the format, so that any tensor's byte size is checked at load; only some are readable.
struct Dtype {
  const char* name;
  uint64_t bytes;
  float (*read)(const uint8_t*);
};
constexpr Dtype kDtypes[] = {{"F32", 4, f32_at},  {"F16", 2, f16_at},   {"BF16", 2, bf16_at}, {"F64", 8, nullptr},
                             {"I64", 8, nullptr}, {"U64", 8, nullptr},  {"I32", 4, nullptr},  {"U32", 4, nullptr},
                             {"I16", 2, nullptr}, {"U16", 2, nullptr},  {"I8", 1, nullptr},   {"U8", 1, nullptr},
                             {"BOOL", 1, nullptr}, {"F8_E4M3", 1, nullptr}, {"F8_E5M2", 1, nullptr}};

const Dtype* find_dtype(const std::string& name) {
  for (const auto& dtype : kDtypes) {
    if (name == dtype.name) return &dtype;
  }
  return nullptr;
}

// One tensor's header entry, checked field by field; `where` names the file and tensor in messages.
class EntryReader {
 public:
  EntryReader(const nlohmann::json& value, std::string where) : value_(value), where_(std::move(where)) {}

  SafetensorsFile::Entry read(uint64_t data_size) const {
    if (!value_.is_object()) fail(fmt::format("has the header entry {}, not an object", brief(value_)));
    SafetensorsFile::Entry entry{.dtype = dtype(), .shape = integers("shape")};
    const auto offsets = integers("data_offsets");
    if (offsets.size() != 2) fail(fmt::format("has {} data_offsets; it must have 2 (begin, end)", offsets.size()));
    entry.begin = offsets[0];
    entry.end = offsets[1];
    if (entry.end < entry.begin) {
      fail(fmt::format("has data_offsets [{}, {}]: the end is before the begin", entry.begin, entry.end));
    }
    if (entry.end > data_size) {
      fail(fmt::format("ends at byte {} of a {}-byte data section: the file is truncated", entry.end, data_size));
    }
    entry.elements = 1;
    for (uint64_t d : entry.shape) {
      if (__builtin_mul_overflow(entry.elements, d, &entry.elements)) {
        fail(fmt::format("has shape [{}], more than 2^64 elements", fmt::join(entry.shape, ", ")));
      }
    }
    const Dtype* known = find_dtype(entry.dtype);
    const uint64_t bytes = entry.end - entry.begin;
    if (known && (bytes % known->bytes != 0 || bytes / known->bytes != entry.elements)) {
      fail(fmt::format("has shape [{}] of {} but data_offsets [{}, {}] hold {} bytes", fmt::join(entry.shape, ", "),
                       entry.dtype, entry.begin, entry.end, bytes));
    }
    return entry;
  }

 private:
  std::string dtype() const {
    const auto& dtype = member("dtype");
    if (!dtype.is_string()) fail(fmt::format("has dtype {}, not a string", brief(dtype)));
    return dtype.get<std::string>();
  }

  // A list of non-negative integers: nlohmann would convert a float such as 1e30 with undefined behaviour.
  std::vector<uint64_t> integers(const char* key) const {
    const auto& list = member(key);
    const bool valid = list.is_array() && std::all_of(list.begin(), list.end(), [](const nlohmann::json& item) {
      return item.is_number_unsigned();
    });
    if (!valid) fail(fmt::format("has {} {}: it must be a list of non-negative integers", key, brief(list)));
    std::vector<uint64_t> values;
    for (const auto& item : list) values.push_back(item.get<uint64_t>());
    return values;
  }

  const nlohmann::json& member(const char* key) const {
    const auto found = value_.find(key);
    if (found == value_.end()) fail(fmt::format("has no '{}' in its header entry", key));
    return *found;
  }

  [[noreturn]] void fail(const std::string& what) const { throw Error(fmt::format("{} {}", where_, what)); }

  const nlohmann::json& value_;
  std::string where_;
};

}  // namespace

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : path_(path) {
  // An empty file maps to no bytes; parse() reports it.
  auto file = map_model_file(path);
  mapping_ = std::move(file.mapping);
  parse(file.bytes);
}

SafetensorsFile::SafetensorsFile(std::span<const uint8_t> bytes, const std::filesystem::path& path) : path_(path) {
  parse(bytes);
}

void SafetensorsFile::parse(std::span<const uint8_t> file) {
  const std::string name = path_.string();
  if (file.size() < 8) throw Error(fmt::format("'{}' is not a safetensors file: only {} bytes", name, file.size()));
  uint64_t header_size = 0;
  std::memcpy(&header_size, file.data(), 8);
  if (header_size > file.size() - 8) {
    throw Error(fmt::format("'{}' is truncated or corrupt: header of {} bytes in a file of {} bytes", name,
                            header_size, file.size()));
  }
  const auto header_bytes = file.subspan(8, header_size);
  data_ = file.subspan(8 + header_size);
  const auto header = parse_json({reinterpret_cast<const char*>(header_bytes.data()), header_bytes.size()},
                                 fmt::format("'{}' has a corrupt header", name));
  if (!header.is_object()) throw Error(fmt::format("'{}' has a corrupt header: {}, not a JSON object", name, brief(header)));
  for (const auto& [tensor, value] : header.items()) {
    if (tensor == "__metadata__") continue;
    entries_.emplace(tensor, EntryReader(value, fmt::format("'{}': tensor {}", name, brief(tensor))).read(data_.size()));
  }
}

const SafetensorsFile::Entry& SafetensorsFile::entry(const std::string& name) const {
  const auto found = entries_.find(name);
  if (found == entries_.end()) throw Error(fmt::format("'{}' has no tensor {}", path_.string(), brief(name)));
  return found->second;
}

std::vector<float> SafetensorsFile::read_f32(const std::string& name, const std::vector<uint64_t>& expected_shape) const {
  const Entry& e = entry(name);
  if (e.shape != expected_shape) {
    throw Error(fmt::format("'{}': tensor {} has shape [{}] but the config implies [{}]", path_.string(), brief(name),
                            fmt::join(e.shape, ", "), fmt::join(expected_shape, ", ")));
  }
  const Dtype* dtype = find_dtype(e.dtype);
  if (!dtype || !dtype->read) {
    throw Error(fmt::format("'{}': tensor {} has dtype {}; F32, F16 and BF16 are supported", path_.string(), brief(name),
                            brief(e.dtype)));
  }
  // The byte size was checked against the shape at load.
  std::vector<float> values(e.elements);
  const uint8_t* source = data_.data() + e.begin;
  for (uint64_t i = 0; i < e.elements; ++i) {
    values[i] = dtype->read(source + i * dtype->bytes);
    // A NaN or infinity in a weight would make every translation garbage, with no error.
    if (!std::isfinite(values[i])) {
      throw Error(fmt::format("'{}': tensor {} holds {} at element {}; weights must be finite", path_.string(),
                              brief(name), values[i], i));
    }
  }
  return values;
}

}  // namespace vkformer
