#include "attention_svg.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace vkformer::cli {

namespace {

constexpr int kCell = 22;          // px per piece
constexpr int kCharWidth = 7;      // px per label character (12 px sans-serif, roughly)
constexpr size_t kLabelChars = 24;  // longer labels are cut with an ellipsis

std::string xml_escaped(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default:
        // Control characters are not allowed in XML 1.0.
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t') out += c;
    }
  }
  return out;
}

// At most kLabelChars code points (UTF-8 continuation bytes do not count), then "…".
std::string label(const std::string& piece) {
  size_t chars = 0;
  for (size_t i = 0; i < piece.size(); ++i) {
    if ((static_cast<unsigned char>(piece[i]) & 0xC0) == 0x80) continue;
    if (++chars > kLabelChars) return xml_escaped(piece.substr(0, i)) + "\u2026";
  }
  return xml_escaped(piece);
}

// Pixels for the longest of `texts`, each cut at `most` characters.
size_t label_width(const std::vector<std::string>& texts, size_t most = kLabelChars + 1) {
  size_t longest = 1;
  for (const auto& text : texts) {
    size_t chars = 0;
    for (unsigned char c : text) chars += (c & 0xC0) != 0x80;
    longest = std::max(longest, std::min(chars, most));
  }
  return longest * kCharWidth + 8;
}

// White (0) to dark blue (1): light enough at 0.1 to tell from nothing.
std::string colour(float weight) {
  const double w = std::clamp(double(weight), 0.0, 1.0);
  const auto channel = [&](double to) { return int(std::lround(255.0 + (to - 255.0) * std::sqrt(w))); };
  return fmt::format("#{:02x}{:02x}{:02x}", channel(8), channel(48), channel(107));
}

}  // namespace

std::string attention_svg(const std::string& title, const std::vector<std::string>& source,
                          const std::vector<std::string>& target, const std::vector<std::vector<float>>& weights) {
  const int left = int(label_width(target)), top = int(label_width(source)) + 36;  // source labels run upwards
  const int map_width = left + kCell * int(source.size()) + 80;
  const int width = std::max(map_width, int(label_width({title}, SIZE_MAX)) + 8), height = top + kCell * int(target.size()) + 40;
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"4\" y=\"16\" font-size=\"14\">{}</text>\n",
      width, height, width, height, xml_escaped(title));
  // Source pieces along the top, read bottom to top; target pieces down the left, right-aligned.
  for (size_t s = 0; s < source.size(); ++s) {
    const int x = left + kCell * int(s) + kCell / 2 + 4, y = top - 6;
    svg += fmt::format("<text class=\"source\" transform=\"translate({},{}) rotate(-90)\">{}</text>\n", x, y,
                       label(source[s]));
  }
  for (size_t t = 0; t < target.size(); ++t) {
    svg += fmt::format("<text class=\"target\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", left - 6,
                       top + kCell * int(t) + kCell / 2 + 4, label(target[t]));
  }
  for (size_t t = 0; t < target.size() && t < weights.size(); ++t) {
    for (size_t s = 0; s < source.size() && s < weights[t].size(); ++s) {
      const float w = weights[t][s];
      svg += fmt::format(
          "<rect class=\"cell\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>{} \u2192 {}: "
          "{:.3f}</title></rect>\n",
          left + kCell * int(s), top + kCell * int(t), kCell, kCell, colour(w), xml_escaped(target[t]),
          xml_escaped(source[s]), w);
    }
  }
  svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>\n", left, top,
                     kCell * int(source.size()), kCell * int(target.size()));
  // The scale: 0, 0.5 and 1 beside the map.
  const int scale_x = left + kCell * int(source.size()) + 16;
  for (int i = 0; i <= 10; ++i) {
    svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"14\" height=\"8\" fill=\"{}\"/>\n", scale_x, top + 8 * (10 - i),
                       colour(float(i) / 10.0f));
  }
  for (const auto& [value, text] : {std::pair{0, "0"}, {5, "0.5"}, {10, "1"}}) {
    svg += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", scale_x + 18, top + 8 * (10 - value) + 8, text);
  }
  svg += fmt::format("<text x=\"{}\" y=\"{}\">source \u2192, target \u2193</text>\n", left, height - 12);
  svg += "</svg>\n";
  return svg;
}

}  // namespace vkformer::cli
