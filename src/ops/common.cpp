#include "vkformer/ops/common.hpp"

namespace vkformer {

std::array<uint32_t, 3> groups_for(uint64_t count, uint32_t per_group, uint32_t max_x) {
  const uint64_t groups = (count + per_group - 1) / per_group;
  if (groups <= max_x) return {uint32_t(groups ? groups : 1), 1, 1};
  return {max_x, uint32_t((groups + max_x - 1) / max_x), 1};
}

uint32_t shuffle_lanes(const DeviceInfo& d, uint32_t wg, uint32_t wanted, uint32_t divides) {
  constexpr auto kShuffle = vk::SubgroupFeatureFlagBits::eBasic | vk::SubgroupFeatureFlagBits::eShuffle;
  const uint32_t smallest = d.min_subgroup_size ? d.min_subgroup_size : d.subgroup_size;
  const uint32_t largest = std::max(d.max_subgroup_size, d.subgroup_size);
  const bool whole = wg <= smallest || (largest && wg % largest == 0);
  if ((d.subgroup_operations & kShuffle) != kShuffle || !whole) return 1;
  uint32_t lanes = std::max(wanted, 1u);
  while (lanes > 1 && (lanes > smallest || divides % lanes != 0)) lanes /= 2;
  return lanes;
}

}  // namespace vkformer
