#pragma once
// Standard input and output of the vkformer command. Every write and read is checked: a failure is an Error
// ("cannot write output: No space left on device"), never a silent exit 0.
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace vkformer::cli {

// Call first in main(). A closed stdin, stdout or stderr is reopened on /dev/null, so that no file the
// program opens later takes its descriptor; reading a closed stdin or writing a closed stdout is an Error.
void guard_standard_streams();

void write_output(std::string_view text);
// Flushes stdout; throws if this or any earlier buffered write failed.
void flush_output();

template <typename... T>
void out(fmt::format_string<T...> format, T&&... args) {
  write_output(fmt::format(format, std::forward<T>(args)...));
}

// One line of stdin without its "\n" or "\r\n"; false at the end of input.
bool read_line(std::string& line);

}  // namespace vkformer::cli
