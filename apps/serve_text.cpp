#include "serve_text.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <utility>

namespace vkformer::cli {

namespace {

bool space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }
bool closing(char c) { return c == '"' || c == '\'' || c == ')' || c == ']'; }
bool sentence_start(char c) {
  const auto u = static_cast<unsigned char>(c);
  return std::isupper(u) || std::isdigit(u) || c == '"' || c == '\'' || c == '(' || c == '[' || u >= 0x80;
}

bool starts_with_ci(std::string_view text, size_t at, std::string_view prefix) {
  if (text.size() - at < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[at + i])) != prefix[i]) return false;
  }
  return true;
}

void append_utf8(std::string& out, uint32_t code) {
  if (code < 0x80) {
    out += char(code);
  } else if (code < 0x800) {
    out += char(0xc0 | (code >> 6));
    out += char(0x80 | (code & 0x3f));
  } else if (code < 0x10000) {
    out += char(0xe0 | (code >> 12));
    out += char(0x80 | ((code >> 6) & 0x3f));
    out += char(0x80 | (code & 0x3f));
  } else {
    out += char(0xf0 | (code >> 18));
    out += char(0x80 | ((code >> 12) & 0x3f));
    out += char(0x80 | ((code >> 6) & 0x3f));
    out += char(0x80 | (code & 0x3f));
  }
}

// The end of the tag that starts at `at` ('<'): after its '>', quoted attribute values skipped.
size_t tag_end(std::string_view html, size_t at) {
  char quote = 0;
  for (size_t i = at + 1; i < html.size(); ++i) {
    if (quote) {
      if (html[i] == quote) quote = 0;
    } else if (html[i] == '"' || html[i] == '\'') {
      quote = html[i];
    } else if (html[i] == '>') {
      return i + 1;
    }
  }
  return html.size();
}

}  // namespace

std::vector<std::pair<size_t, size_t>> sentence_spans(std::string_view line) {
  std::vector<std::pair<size_t, size_t>> spans;
  size_t begin = 0;
  while (begin < line.size() && space(line[begin])) ++begin;
  for (size_t i = begin; i < line.size();) {
    if (line[i] != '.' && line[i] != '!' && line[i] != '?') {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < line.size() && (line[end] == '.' || line[end] == '!' || line[end] == '?')) ++end;
    while (end < line.size() && closing(line[end])) ++end;
    size_t next = end;
    while (next < line.size() && space(line[next])) ++next;
    if (next > end && next < line.size() && sentence_start(line[next])) {
      spans.emplace_back(begin, end);
      begin = next;
    }
    i = std::max(next, i + 1);
  }
  size_t end = line.size();
  while (end > begin && space(line[end - 1])) --end;
  if (end > begin) spans.emplace_back(begin, end);
  return spans;
}

void Segmented::add_literal(std::string_view text) {
  if (text.empty()) return;
  if (!pieces_.empty() && !pieces_.back().is_sentence) {
    pieces_.back().literal += text;
  } else {
    pieces_.push_back({.literal = std::string(text)});
  }
}

void Segmented::add_line(std::string_view line, bool escape) {
  size_t at = 0;
  for (const auto& [begin, end] : sentence_spans(line)) {
    add_literal(line.substr(at, begin - at));
    pieces_.push_back({.sentence = sentences_.size(), .is_sentence = true, .escape = escape});
    sentences_.emplace_back(line.substr(begin, end - begin));
    at = end;
  }
  add_literal(line.substr(at));
}

void Segmented::add_text(std::string_view text) {
  for (size_t at = 0;;) {
    const size_t newline = text.find('\n', at);
    add_line(text.substr(at, newline == std::string_view::npos ? std::string_view::npos : newline - at), false);
    if (newline == std::string_view::npos) return;
    add_literal("\n");
    at = newline + 1;
  }
}

void Segmented::add_html(std::string_view html) {
  const auto add_text_node = [&](std::string_view node) {
    const std::string text = decode_entities(node);
    for (size_t at = 0;;) {
      const size_t newline = text.find('\n', at);
      add_line(std::string_view(text).substr(at, newline == std::string::npos ? std::string::npos : newline - at),
               true);
      if (newline == std::string::npos) return;
      add_literal("\n");
      at = newline + 1;
    }
  };
  size_t text_begin = 0;
  for (size_t at = 0; at < html.size();) {
    if (html[at] != '<' || at + 1 == html.size()) {
      ++at;
      continue;
    }
    const char next = html[at + 1];
    size_t end = 0;
    if (html.substr(at, 4) == "<!--") {
      const size_t close = html.find("-->", at + 4);
      end = close == std::string_view::npos ? html.size() : close + 3;
    } else if (std::isalpha(static_cast<unsigned char>(next)) || next == '/' || next == '!' || next == '?') {
      end = tag_end(html, at);
      // Script and style contents are not text: kept up to their closing tag.
      for (const std::string_view raw : {"script", "style"}) {
        if (starts_with_ci(html, at + 1, raw) &&
            !std::isalnum(
                static_cast<unsigned char>(at + 1 + raw.size() < html.size() ? html[at + 1 + raw.size()] : ' '))) {
          size_t close = end;
          while (close < html.size() && !(html[close] == '<' && close + 1 < html.size() && html[close + 1] == '/' &&
                                          starts_with_ci(html, close + 2, raw))) {
            ++close;
          }
          end = close < html.size() ? tag_end(html, close) : html.size();
        }
      }
    } else {
      ++at;  // a '<' that starts no tag is text
      continue;
    }
    add_text_node(html.substr(text_begin, at - text_begin));
    add_literal(html.substr(at, end - at));
    text_begin = at = end;
  }
  add_text_node(html.substr(text_begin));
}

std::string Segmented::assemble(const std::vector<std::string>& translations) const {
  std::string text;
  for (const auto& piece : pieces_) {
    if (!piece.is_sentence) {
      text += piece.literal;
    } else {
      text += piece.escape ? escape_html(translations.at(piece.sentence)) : translations.at(piece.sentence);
    }
  }
  return text;
}

std::string decode_entities(std::string_view text) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 6> kNamed{
      {{"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"apos", "'"}, {"nbsp", "\u00a0"}}};
  std::string out;
  for (size_t at = 0; at < text.size();) {
    const size_t semicolon = text[at] == '&' ? text.find(';', at) : std::string_view::npos;
    if (semicolon == std::string_view::npos || semicolon - at > 10) {
      out += text[at++];
      continue;
    }
    const std::string_view name = text.substr(at + 1, semicolon - at - 1);
    bool decoded = false;
    if (name.size() >= 2 && name[0] == '#') {
      const bool hex = name[1] == 'x' || name[1] == 'X';
      const std::string_view digits = name.substr(hex ? 2 : 1);
      uint32_t code = 0;
      bool valid = !digits.empty();
      for (const char c : digits) {
        const int digit = std::isdigit(static_cast<unsigned char>(c))           ? c - '0'
                          : hex && std::isxdigit(static_cast<unsigned char>(c)) ? std::tolower(c) - 'a' + 10
                                                                                : -1;
        if (digit < 0 || code > 0x10ffff) valid = false;
        if (valid) code = code * (hex ? 16 : 10) + uint32_t(digit);
      }
      // Not a character (surrogates, beyond Unicode, NUL): kept as written.
      if (valid && code > 0 && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff)) {
        append_utf8(out, code);
        decoded = true;
      }
    } else {
      for (const auto& [entity, value] : kNamed) {
        if (name == entity) {
          out += value;
          decoded = true;
        }
      }
    }
    if (decoded) {
      at = semicolon + 1;
    } else {
      out += text[at++];
    }
  }
  return out;
}

std::string escape_html(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '&') {
      out += "&amp;";
    } else if (c == '<') {
      out += "&lt;";
    } else if (c == '>') {
      out += "&gt;";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace vkformer::cli
