#pragma once
// Input and output of the vkformer command. Every write and read is checked: a failure is an Error
// ("cannot write output: No space left on device"), never a silent exit 0. Also what `translate` and `serve`
// share about input text: encoding with a length limit, and translating a batch in which one sentence may fail.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include "vkformer/engine.hpp"

namespace vkformer::cli {

// Call first in main(). A closed stdin, stdout or stderr is reopened on /dev/null, so that no file the
// program opens later takes its descriptor; reading a closed stdin or writing a closed stdout is an Error.
void guard_standard_streams();

// -i/--input and -o/--output: stdin and stdout become these files. Throws Error naming the file.
void open_input(const std::string& path);
void open_output(const std::string& path);

void write_output(std::string_view text);
// Flushes stdout; throws if this or any earlier buffered write failed.
void flush_output();

template <typename... T>
void out(fmt::format_string<T...> format, T&&... args) {
  write_output(fmt::format(format, std::forward<T>(args)...));
}

// One line of stdin without its "\n" or "\r\n"; false at the end of input.
bool read_line(std::string& line);

// Lines of stdin read with read(2), for a thread of their own: no stdio lock is held while a read blocks.
class LineReader {
 public:
  LineReader();
  // One line without its "\n" or "\r\n"; false at the end of input. Throws Error ("cannot read input: ...").
  bool next(std::string& line);

 private:
  std::string buffer_;
  size_t start_ = 0;
  bool end_ = false;
};

// The number of lines stdin holds when it is a regular file (read without moving its offset); 0 otherwise.
size_t count_input_lines();

// --max-input-length: 0 turns truncation off; any other value is capped at the model's positions.
uint32_t input_token_limit(const Engine& translator, uint32_t option);

struct EncodedInput {
  std::vector<uint32_t> ids;
  size_t truncated_from = 0;  // the token count before truncation; 0 when not truncated
  std::vector<std::string> pieces;  // with_pieces: the source piece of each id (replace_unknowns, attention maps)
};

// The model's ids for a line, the first `limit` tokens of it when longer (the last, eos, kept at the end as
// CTranslate2's max_input_length does); limit 0: a line longer than the model's positions is an Error.
// Throws Error for invalid UTF-8.
EncodedInput encode_input(const Engine& translator, const std::string& text, uint32_t limit,
                          bool with_pieces = false);

// One sentence's outcome: its translation, or the error that it alone caused.
using Outcome = std::variant<Translation, std::string>;

// Translates the sources in one call; if that fails, one at a time, so that a sentence that fails (numbers
// that overflow, buffers that do not fit alone) fails only itself. With stop_at_error, the sentences after
// the first failure are left untranslated (empty Translations). Hypothesis texts are decoded, with unknown
// pieces replaced when options.replace_unknowns (pieces: each source's EncodedInput::pieces); hypotheses
// keep their attention only when options.return_attention.
std::vector<Outcome> translate_isolated(Engine& translator, const std::vector<std::vector<uint32_t>>& sources,
                                        const DecodeOptions& options, bool stop_at_error,
                                        const std::vector<std::vector<std::string>>& pieces = {});

}  // namespace vkformer::cli
