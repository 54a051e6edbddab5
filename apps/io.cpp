#include "io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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
Error input_error(const char* reason) { return Error(fmt::format("cannot read input: {}", reason)); }

// Opens `path` as descriptor `target` (0 or 1).
void open_as(const std::string& path, int flags, int target, const char* what) {
  const int fd = open(path.c_str(), flags | O_CLOEXEC, 0666);
  if (fd < 0) throw Error(fmt::format("cannot open {} '{}': {}", what, path, std::strerror(errno)));
  struct stat info {};
  if (fstat(fd, &info) == 0 && S_ISDIR(info.st_mode)) {
    close(fd);
    throw Error(fmt::format("cannot open {} '{}': it is a directory", what, path));
  }
  dup2(fd, target);
  close(fd);
}

}  // namespace

void guard_standard_streams() {
  stdin_closed = reopen_if_closed(STDIN_FILENO);
  stdout_closed = reopen_if_closed(STDOUT_FILENO);
  reopen_if_closed(STDERR_FILENO);
}

void open_input(const std::string& path) {
  open_as(path, O_RDONLY, STDIN_FILENO, "input");
  stdin_closed = false;
}

void open_output(const std::string& path) {
  std::fflush(stdout);
  open_as(path, O_WRONLY | O_CREAT | O_TRUNC, STDOUT_FILENO, "output");
  stdout_closed = false;
}

void write_output(std::string_view text) {
  if (stdout_closed) throw output_error("stdout is closed");
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size()) throw output_error(std::strerror(errno));
}

void flush_output() {
  // ferror too: a write that failed while the buffer filled (long --help text) leaves nothing to flush;
  // errno still tells why.
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) throw output_error(errno ? std::strerror(errno) : "write error");
}

bool read_line(std::string& line) {
  if (stdin_closed) throw input_error("stdin is closed");
  line.clear();
  int c = 0;
  while ((c = std::getc(stdin)) != EOF && c != '\n') line.push_back(char(c));
  if (std::ferror(stdin)) throw input_error(std::strerror(errno));
  if (c == EOF && line.empty()) return false;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

LineReader::LineReader() = default;

bool LineReader::next(std::string& line) {
  if (stdin_closed) throw input_error("stdin is closed");
  for (size_t searched = start_;;) {
    const size_t newline = buffer_.find('\n', searched);
    if (newline != std::string::npos || (end_ && start_ < buffer_.size())) {
      const size_t stop = newline == std::string::npos ? buffer_.size() : newline;
      line.assign(buffer_, start_, stop - start_);
      start_ = std::min(stop + 1, buffer_.size());
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return true;
    }
    if (end_) return false;
    searched = buffer_.size();
    if (start_ > 0 && start_ * 2 >= buffer_.size()) {  // drop consumed lines before the buffer grows
      buffer_.erase(0, start_);
      searched -= start_;
      start_ = 0;
    }
    char chunk[65536];
    const ssize_t got = read(STDIN_FILENO, chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw input_error(std::strerror(errno));
    if (got == 0) end_ = true;
    buffer_.append(chunk, size_t(got));
  }
}

size_t count_input_lines() {
  struct stat info {};
  if (stdin_closed || fstat(STDIN_FILENO, &info) != 0 || !S_ISREG(info.st_mode)) return 0;
  off_t offset = lseek(STDIN_FILENO, 0, SEEK_CUR);
  if (offset < 0) return 0;
  size_t lines = 0;
  char last = '\n';
  char chunk[65536];
  for (ssize_t got; (got = pread(STDIN_FILENO, chunk, sizeof chunk, offset)) > 0; offset += got) {
    lines += size_t(std::count(chunk, chunk + got, '\n'));
    last = chunk[got - 1];
  }
  return lines + (last != '\n' ? 1 : 0);
}

uint32_t input_token_limit(const Engine& translator, uint32_t option) {
  return option == 0 ? 0 : std::min(option, translator.config().max_positions);
}

EncodedInput encode_input(const Engine& translator, const std::string& text, uint32_t limit, bool with_pieces) {
  EncodedInput encoded;
  std::vector<std::string>* pieces = with_pieces ? &encoded.pieces : nullptr;
  if (limit == 0) {
    encoded.ids = translator.encode(text, pieces);
    return encoded;
  }
  // The limit is within the model's positions: a longer line is cut instead of refused.
  encoded.ids = translator.tokenizer().encode(text, pieces);
  const size_t count = encoded.ids.size();
  if (count <= limit) return encoded;
  encoded.truncated_from = count;
  const bool keep_eos = translator.config().add_source_eos;
  const auto cut = [&](auto& items) {
    auto last = items.back();
    items.resize(limit);
    if (keep_eos) items.back() = std::move(last);
  };
  cut(encoded.ids);
  if (pieces) cut(*pieces);
  return encoded;
}

std::vector<Outcome> translate_isolated(Engine& translator, const std::vector<std::vector<uint32_t>>& sources,
                                        const DecodeOptions& options, bool stop_at_error,
                                        const std::vector<std::vector<std::string>>& pieces) {
  const auto decoded = [&](Translation translation, size_t i) {
    translator.decode_hypotheses(translation, i < pieces.size() ? pieces[i] : std::vector<std::string>{}, options);
    return translation;
  };
  std::vector<Outcome> outcomes;
  if (sources.size() > 1) {
    try {
      auto translations = translator.translate(sources, options);
      for (size_t i = 0; i < translations.size(); ++i) outcomes.emplace_back(decoded(std::move(translations[i]), i));
      return outcomes;
    } catch (const std::exception&) {
      outcomes.clear();  // one sentence failed the batch it shared: find which, one at a time
    }
  }
  bool failed = false;
  for (size_t i = 0; i < sources.size(); ++i) {
    if (failed && stop_at_error) {
      outcomes.emplace_back(Translation{});
      continue;
    }
    // Alone, a sentence keeps its index in the call: sampling seeds its generator with it.
    DecodeOptions alone = options;
    alone.first_sentence = options.first_sentence + i;
    try {
      outcomes.emplace_back(decoded(std::move(translator.translate({sources[i]}, alone).at(0)), i));
    } catch (const std::exception& e) {
      outcomes.emplace_back(std::string(e.what()));
      failed = true;
    }
  }
  return outcomes;
}

}  // namespace vkformer::cli
