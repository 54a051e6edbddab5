#include "vkformer/model/model_file.hpp"

#include <fcntl.h>
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

nlohmann::json parse_json_object(const std::string& text, const std::filesystem::path& path) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("'{}' is not valid JSON: {}", path.string(), e.what()));
  }
  if (!json.is_object()) throw Error(fmt::format("'{}' holds {}, not a JSON object", path.string(), brief(json)));
  return json;
}

std::string brief(const nlohmann::json& value) {
  constexpr size_t kMaxLength = 60;
  std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > kMaxLength) {
    text.resize(kMaxLength);
    // Cut at a character boundary: never leave half a UTF-8 sequence.
    while (!text.empty() && (static_cast<unsigned char>(text.back()) & 0xc0) == 0x80) text.pop_back();
    if (!text.empty() && static_cast<unsigned char>(text.back()) >= 0xc0) text.pop_back();
    text += "...";
  }
  return text;
}

}  // namespace vkformer
