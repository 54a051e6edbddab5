#pragma once
// The text of a `vkformer serve` request cut into the sentences the model translates, and put back together
// around their translations.
//
// Plain text: every line on its own; a line is cut into sentences after '.', '!' or '?' (and any closing
// quotes or brackets) followed by whitespace and then an upper-case ASCII letter, a digit, an opening quote
// or bracket, or a non-ASCII character. Abbreviations ("Dr. Smith") are cut too: the rule is simple so that
// it is predictable. The whitespace between sentences, at the ends of lines, and blank lines are kept as
// they are and not translated.
//
// HTML: tags, comments, doctype and the contents of <script> and <style> are kept as they are; every text
// node is translated as plain text on its own (so inline markup such as <b> ends a sentence), its entities
// decoded before and &, < and > escaped after.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace vkformer::cli {

class Segmented {
 public:
  void add_text(std::string_view text);
  void add_html(std::string_view html);

  const std::vector<std::string>& sentences() const { return sentences_; }
  // The text again with sentence i replaced by translations[i].
  std::string assemble(const std::vector<std::string>& translations) const;

 private:
  struct Piece {
    std::string literal;
    size_t sentence = 0;
    bool is_sentence = false;
    bool escape = false;  // an HTML text node's translation
  };
  void add_literal(std::string_view text);
  void add_line(std::string_view line, bool escape);

  std::vector<std::string> sentences_;
  std::vector<Piece> pieces_;
};

// Where in `line` its sentences begin and end: [begin, end) pairs, whitespace trimmed.
std::vector<std::pair<size_t, size_t>> sentence_spans(std::string_view line);

// HTML character references (&amp; &#233; &#xE9; and the few named ones text commonly holds) decoded;
// unknown ones are kept as written.
std::string decode_entities(std::string_view text);
std::string escape_html(std::string_view text);

}  // namespace vkformer::cli
