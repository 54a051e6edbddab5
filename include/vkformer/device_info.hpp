#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <vulkan/vulkan.hpp>

namespace vkformer {

struct MemoryHeapInfo {
  uint64_t size = 0;
  bool device_local = false;
};

// What the runtime and the tuning table need to know about a physical device.
struct DeviceInfo {
  uint32_t index = 0;
  std::string name;
  uint32_t vendor_id = 0;
  uint32_t device_id = 0;
  vk::PhysicalDeviceType type = vk::PhysicalDeviceType::eOther;
  std::string driver_name;
  std::string driver_info;
  uint32_t api_version = 0;
  uint32_t subgroup_size = 0;
  uint32_t min_subgroup_size = 0;
  uint32_t max_subgroup_size = 0;
  bool subgroup_arithmetic = false;  // subgroupAdd and friends in compute shaders
  uint32_t shared_memory_bytes = 0;
  uint32_t max_workgroup_invocations = 0;
  uint32_t max_workgroup_size[3] = {0, 0, 0};
  uint32_t max_workgroup_count[3] = {0, 0, 0};
  uint64_t max_storage_buffer_range = 0;
  uint64_t max_texel_buffer_elements = 0;
  uint64_t max_allocation_size = 0;
  uint64_t min_storage_buffer_offset_alignment = 0;
  uint32_t max_push_constants_bytes = 0;
  float timestamp_period_ns = 0;
  uint32_t timestamp_valid_bits = 0;
  bool shader_float16 = false;
  bool storage_buffer_16bit = false;
  bool f16_texel_buffers = false;  // R16G16B16A16_SFLOAT uniform texel buffers (--precision f16)
  bool unified_memory = false;  // some memory type is both device-local and host-visible (CPU, iGPU, ReBAR)
  std::vector<MemoryHeapInfo> heaps;

  std::string vendor_name() const;
  std::string type_name() const;
  std::string api_version_string() const;
};

std::vector<DeviceInfo> describe_devices(vk::Instance instance);

// Picks a device: `selector` (index or case-insensitive name substring) if given, else VKFORMER_DEVICE,
// else the best type (discrete > integrated > virtual > CPU). Throws Error if nothing matches.
uint32_t choose_device(const std::vector<DeviceInfo>& devices, const std::string& selector);

}  // namespace vkformer
