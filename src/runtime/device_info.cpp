#include "vkformer/device_info.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include <fmt/format.h>

#include "vkformer/error.hpp"

namespace vkformer {

std::string DeviceInfo::vendor_name() const {
  switch (vendor_id) {
    case 0x10DE: return "NVIDIA";
    case 0x1002: return "AMD";
    case 0x8086: return "Intel";
    case 0x13B5: return "ARM";
    case 0x5143: return "Qualcomm";
    case 0x106B: return "Apple";
    case 0x10005: return "Mesa";
    default: return fmt::format("0x{:04x}", vendor_id);
  }
}

std::string DeviceInfo::type_name() const {
  switch (type) {
    case vk::PhysicalDeviceType::eDiscreteGpu: return "discrete";
    case vk::PhysicalDeviceType::eIntegratedGpu: return "integrated";
    case vk::PhysicalDeviceType::eVirtualGpu: return "virtual";
    case vk::PhysicalDeviceType::eCpu: return "cpu";
    default: return "other";
  }
}

std::string DeviceInfo::api_version_string() const {
  return fmt::format("{}.{}.{}", VK_API_VERSION_MAJOR(api_version), VK_API_VERSION_MINOR(api_version),
                     VK_API_VERSION_PATCH(api_version));
}

static DeviceInfo describe(vk::PhysicalDevice physical, uint32_t index) {
  DeviceInfo info;
  info.index = index;
  auto chain = physical.getProperties2<vk::PhysicalDeviceProperties2, vk::PhysicalDeviceSubgroupProperties,
                                       vk::PhysicalDeviceMaintenance3Properties>();
  const auto& props = chain.get<vk::PhysicalDeviceProperties2>().properties;
  info.name = props.deviceName.data();
  info.vendor_id = props.vendorID;
  info.device_id = props.deviceID;
  info.type = props.deviceType;
  info.api_version = props.apiVersion;
  const auto& subgroup = chain.get<vk::PhysicalDeviceSubgroupProperties>();
  info.subgroup_size = subgroup.subgroupSize;
  info.subgroup_arithmetic = (subgroup.supportedStages & vk::ShaderStageFlagBits::eCompute) &&
                             (subgroup.supportedOperations & vk::SubgroupFeatureFlagBits::eArithmetic);
  info.min_subgroup_size = info.max_subgroup_size = info.subgroup_size;
  info.shared_memory_bytes = props.limits.maxComputeSharedMemorySize;
  info.max_workgroup_invocations = props.limits.maxComputeWorkGroupInvocations;
  for (int i = 0; i < 3; ++i) {
    info.max_workgroup_size[i] = props.limits.maxComputeWorkGroupSize[i];
    info.max_workgroup_count[i] = props.limits.maxComputeWorkGroupCount[i];
  }
  info.max_storage_buffer_range = props.limits.maxStorageBufferRange;
  info.max_texel_buffer_elements = props.limits.maxTexelBufferElements;
  info.max_allocation_size = chain.get<vk::PhysicalDeviceMaintenance3Properties>().maxMemoryAllocationSize;
  info.min_storage_buffer_offset_alignment = props.limits.minStorageBufferOffsetAlignment;
  info.max_push_constants_bytes = props.limits.maxPushConstantsSize;
  info.timestamp_period_ns = props.limits.timestampPeriod;

  info.f16_texel_buffers = bool(physical.getFormatProperties(vk::Format::eR16G16B16A16Sfloat).bufferFeatures &
                                vk::FormatFeatureFlagBits::eUniformTexelBuffer);
  const auto extensions = physical.enumerateDeviceExtensionProperties();
  auto has_extension = [&](std::string_view name) {
    return std::any_of(extensions.begin(), extensions.end(),
                       [&](const vk::ExtensionProperties& e) { return name == e.extensionName.data(); });
  };
  if (props.apiVersion >= VK_API_VERSION_1_2) {
    auto chain12 = physical.getProperties2<vk::PhysicalDeviceProperties2, vk::PhysicalDeviceDriverProperties>();
    const auto& driver = chain12.get<vk::PhysicalDeviceDriverProperties>();
    info.driver_name = driver.driverName.data();
    info.driver_info = driver.driverInfo.data();
    auto features = physical.getFeatures2<vk::PhysicalDeviceFeatures2, vk::PhysicalDeviceVulkan11Features,
                                          vk::PhysicalDeviceVulkan12Features>();
    info.shader_float16 = features.get<vk::PhysicalDeviceVulkan12Features>().shaderFloat16;
    info.storage_buffer_16bit = features.get<vk::PhysicalDeviceVulkan11Features>().storageBuffer16BitAccess;
  }
  if (props.apiVersion >= VK_API_VERSION_1_3 || has_extension(VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME)) {
    auto chain13 = physical.getProperties2<vk::PhysicalDeviceProperties2,
                                           vk::PhysicalDeviceSubgroupSizeControlProperties>();
    const auto& control = chain13.get<vk::PhysicalDeviceSubgroupSizeControlProperties>();
    info.min_subgroup_size = control.minSubgroupSize;
    info.max_subgroup_size = control.maxSubgroupSize;
  }

  const auto families = physical.getQueueFamilyProperties();
  for (const auto& family : families) {
    if (family.queueFlags & vk::QueueFlagBits::eCompute) {
      info.timestamp_valid_bits = family.timestampValidBits;
      break;
    }
  }

  const auto memory = physical.getMemoryProperties();
  for (uint32_t i = 0; i < memory.memoryHeapCount; ++i) {
    info.heaps.push_back({memory.memoryHeaps[i].size,
                          bool(memory.memoryHeaps[i].flags & vk::MemoryHeapFlagBits::eDeviceLocal)});
  }
  const bool unified_type = info.type == vk::PhysicalDeviceType::eCpu ||
                            info.type == vk::PhysicalDeviceType::eIntegratedGpu;
  for (uint32_t i = 0; i < memory.memoryTypeCount && unified_type; ++i) {
    const auto flags = memory.memoryTypes[i].propertyFlags;
    if ((flags & vk::MemoryPropertyFlagBits::eDeviceLocal) && (flags & vk::MemoryPropertyFlagBits::eHostVisible)) {
      info.unified_memory = true;
    }
  }
  return info;
}

std::vector<DeviceInfo> describe_devices(vk::Instance instance) {
  std::vector<DeviceInfo> devices;
  uint32_t index = 0;
  for (auto physical : instance.enumeratePhysicalDevices()) devices.push_back(describe(physical, index++));
  return devices;
}

static int type_rank(vk::PhysicalDeviceType type) {
  switch (type) {
    case vk::PhysicalDeviceType::eDiscreteGpu: return 0;
    case vk::PhysicalDeviceType::eIntegratedGpu: return 1;
    case vk::PhysicalDeviceType::eVirtualGpu: return 2;
    case vk::PhysicalDeviceType::eCpu: return 3;
    default: return 4;
  }
}

static std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

uint32_t choose_device(const std::vector<DeviceInfo>& devices, const std::string& selector) {
  if (devices.empty()) {
    throw Error(
        "no Vulkan device found: install a GPU driver, or Mesa's CPU driver lavapipe (apt-get install "
        "mesa-vulkan-drivers) on machines without a GPU");
  }
  std::string wanted = selector;
  if (wanted.empty()) {
    if (const char* env = std::getenv("VKFORMER_DEVICE")) wanted = env;
  }
  if (!wanted.empty()) {
    if (std::all_of(wanted.begin(), wanted.end(), [](unsigned char c) { return std::isdigit(c); })) {
      const unsigned long index = std::stoul(wanted);
      if (index >= devices.size()) {
        throw Error(fmt::format("device {} does not exist: {} Vulkan device(s) found (see `vkformer devices`)",
                                index, devices.size()));
      }
      return uint32_t(index);
    }
    for (const auto& device : devices) {
      if (lower(device.name).find(lower(wanted)) != std::string::npos) return device.index;
    }
    throw Error(fmt::format("no Vulkan device matches '{}' (see `vkformer devices`)", wanted));
  }
  const auto best = std::min_element(devices.begin(), devices.end(), [](const auto& a, const auto& b) {
    return type_rank(a.type) < type_rank(b.type);
  });
  return best->index;
}

}  // namespace vkformer
