#include "vkformer/model/model_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "vkformer/error.hpp"

namespace vkformer {

namespace {

const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "a special file";
}

constexpr size_t kBriefLength = 60;

std::string dump(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// `value` as JSON, at most `depth` levels deep and stopping soon after kBriefLength characters:
// json::dump() recurses once per level, and a hostile file nests a million levels.
void append_brief(std::string& out, const nlohmann::json& value, int depth) {
  if (!value.is_structured()) {
    out += dump(value);
    return;
  }
  out += value.is_array() ? '[' : '{';
  if (depth == 0 && !value.empty()) out += "...";
  for (auto item = value.begin(); depth > 0 && item != value.end() && out.size() <= kBriefLength; ++item) {
    if (item != value.begin()) out += ',';
    if (value.is_object()) out += dump(item.key()) + ':';
    append_brief(out, *item, depth - 1);
  }
  out += value.is_array() ? ']' : '}';
}

// At most `length` bytes and "...", cut at a character boundary: never half a UTF-8 sequence.
std::string shortened(std::string text, size_t length) {
  if (text.size() <= length) return text;
  text.resize(length);
  while (!text.empty() && (static_cast<unsigned char>(text.back()) & 0xc0) == 0x80) text.pop_back();
  if (!text.empty() && static_cast<unsigned char>(text.back()) >= 0xc0) text.pop_back();
  return text + "...";
}

struct Descriptor {
  int fd;
  ~Descriptor() { ::close(fd); }
};

}  // namespace

int open_model_file(const std::filesystem::path& path) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw Error(fmt::format("cannot open '{}': {}", path.string(), std::strerror(errno)));
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    const int error = errno;
    ::close(fd);
    throw Error(fmt::format("cannot stat '{}': {}", path.string(), std::strerror(error)));
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(fd);
    throw Error(fmt::format("'{}' is {}, not a regular file", path.string(), file_kind(info.st_mode)));
  }
  return fd;
}

MappedFile map_model_file(const std::filesystem::path& path) {
  const int fd = open_model_file(path);
  struct stat info {};
  ::fstat(fd, &info);  // succeeded in open_model_file
  const size_t size = size_t(info.st_size);
  void* mapping = size ? ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0) : nullptr;
  const int error = errno;
  ::close(fd);
  if (mapping == MAP_FAILED) throw Error(fmt::format("cannot map '{}': {}", path.string(), std::strerror(error)));
  std::shared_ptr<const uint8_t> shared(static_cast<const uint8_t*>(mapping), [size](const uint8_t* p) {
    if (p) ::munmap(const_cast<uint8_t*>(p), size);
  });
  return {shared, {shared.get(), size}};
}

std::string read_model_file(const std::filesystem::path& path) {
  // Configs, vocabularies and SentencePiece models are a few MiB at most; this bounds the memory.
  constexpr size_t kMaxSize = size_t(256) << 20;
  const Descriptor file{open_model_file(path)};
  std::string text;
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(file.fd, buffer, sizeof buffer);
    if (n == 0) return text;
    if (n > 0) {
      text.append(buffer, size_t(n));
      if (text.size() > kMaxSize) throw Error(fmt::format("'{}' is larger than {} MiB", path.string(), kMaxSize >> 20));
    } else if (errno != EINTR) {
      throw Error(fmt::format("cannot read '{}': {}", path.string(), std::strerror(errno)));
    }
  }
}

nlohmann::json parse_json(std::string_view text, const std::string& failure) {
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    // nlohmann quotes the token it stopped at, which may be a megabyte-long string.
    throw Error(fmt::format("{}: {}", failure, shortened(e.what(), 200)));
  }
}

nlohmann::json parse_json_object(std::string_view text, const std::filesystem::path& path) {
  auto json = parse_json(text, fmt::format("'{}' is not valid JSON", path.string()));
  if (!json.is_object()) throw Error(fmt::format("'{}' holds {}, not a JSON object", path.string(), brief(json)));
  return json;
}

std::string brief(const nlohmann::json& value) {
  std::string text;
  append_brief(text, value, 3);
  return shortened(std::move(text), kBriefLength);
}

}  // namespace vkformer
