#pragma once
// A heat map of one translation's cross attention as a standalone SVG: a column per source piece, a row per
// target piece, each cell shaded by the weight the target piece's step gave the source piece (white 0,
// dark blue 1), the pieces as axis labels and each weight in the cell's tooltip.
#include <string>
#include <vector>

namespace vkformer::cli {

// weights[t][s]: target piece t's attention to source piece s; rows shorter or longer than `source` are
// drawn as far as both go.
std::string attention_svg(const std::string& title, const std::vector<std::string>& source,
                          const std::vector<std::string>& target, const std::vector<std::vector<float>>& weights);

}  // namespace vkformer::cli
