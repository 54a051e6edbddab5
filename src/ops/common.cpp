#include "vkformer/ops/common.hpp"

namespace vkformer {

std::array<uint32_t, 3> groups_for(uint64_t count, uint32_t per_group, uint32_t max_x) {
  const uint64_t groups = (count + per_group - 1) / per_group;
  if (groups <= max_x) return {uint32_t(groups ? groups : 1), 1, 1};
  return {max_x, uint32_t((groups + max_x - 1) / max_x), 1};
}

}  // namespace vkformer
