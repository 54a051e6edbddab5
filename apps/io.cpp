#include "io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "vkformer/error.hpp"

namespace vkformer::cli {

namespace {

bool stdin_closed = false, stdout_closed = false;

// True if `fd` was closed; it then refers to /dev/null.
bool reopen_if_closed(int fd) {
  if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) return false;
  const int null = open("/dev/null", O_RDWR);
  if (null >= 0 && null != fd) {
    dup2(null, fd);
    close(null);
  }
  return true;
}

Error output_error(const char* reason) { return Error(fmt::format("cannot write output: {}", reason)); }

}  // namespace

void guard_standard_streams() {
  stdin_closed = reopen_if_closed(STDIN_FILENO);
  stdout_closed = reopen_if_closed(STDOUT_FILENO);
  reopen_if_closed(STDERR_FILENO);
}

void write_output(std::string_view text) {
  if (stdout_closed) throw output_error("stdout is closed");
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size()) throw output_error(std::strerror(errno));
}

void flush_output() {
  if (std::fflush(stdout) != 0) throw output_error(std::strerror(errno));
}

bool read_line(std::string& line) {
  if (stdin_closed) throw Error("cannot read input: stdin is closed");
  line.clear();
  int c = 0;
  while ((c = std::getc(stdin)) != EOF && c != '\n') line.push_back(char(c));
  if (std::ferror(stdin)) throw Error(fmt::format("cannot read input: {}", std::strerror(errno)));
  if (c == EOF && line.empty()) return false;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

}  // namespace vkformer::cli
