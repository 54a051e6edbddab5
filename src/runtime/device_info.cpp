#include "vkformer/device_info.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <string_view>

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

uint32_t instance_api_version() {
  // Loaders before 1.1 lack vkEnumerateInstanceVersion; their instances are 1.0.
  if (!VULKAN_HPP_DEFAULT_DISPATCHER.vkEnumerateInstanceVersion) return VK_API_VERSION_1_0;
  return std::min<uint32_t>(vk::enumerateInstanceVersion(), VK_API_VERSION_1_2);
}

static std::string component_name(vk::ComponentTypeNV type) {
  using T = vk::ComponentTypeNV;
  switch (type) {
    case T::eFloat16: return "f16";
    case T::eFloat32: return "f32";
    case T::eFloat64: return "f64";
    case T::eSint8: return "s8";
    case T::eSint16: return "s16";
    case T::eSint32: return "s32";
    case T::eSint64: return "s64";
    case T::eUint8: return "u8";
    case T::eUint16: return "u16";
    case T::eUint32: return "u32";
    case T::eUint64: return "u64";
    default: return fmt::format("type{}", uint32_t(type));
  }
}

std::string CooperativeMatrixShape::describe() const {
  std::string where = scope == vk::ScopeNV::eSubgroup    ? "subgroup"
                      : scope == vk::ScopeNV::eWorkgroup ? "workgroup"
                                                         : fmt::format("scope {}", uint32_t(scope));
  return fmt::format("{}x{}x{} A {} B {} C {} D {} {}", m, n, k, component_name(a), component_name(b),
                     component_name(c), component_name(d), where);
}

const CooperativeMatrixShape* matmul_cooperative_shape(const DeviceInfo& device) {
  using T = vk::ComponentTypeNV;
  for (const auto& shape : device.cooperative_matrix_shapes) {
    if (shape.m == 16 && shape.n == 16 && shape.k == 16 && shape.a == T::eFloat16 && shape.b == T::eFloat16 &&
        shape.c == T::eFloat32 && shape.d == T::eFloat32 && shape.scope == vk::ScopeNV::eSubgroup) {
      return &shape;
    }
  }
  return nullptr;
}

bool float16_arithmetic(const DeviceInfo& device) {
  return device.usable_api_version >= VK_API_VERSION_1_2 && device.shader_float16;
}

std::string cooperative_matrix_misfit(const DeviceInfo& device) {
  if (!device.cooperative_matrix_nv) {
    return device.cooperative_matrix_khr
               ? "the device offers VK_KHR_cooperative_matrix but not VK_NV_cooperative_matrix, and vkformer has "
                 "no KHR shader yet (Debian 12's glslang cannot compile one)"
               : "the device has no VK_NV_cooperative_matrix for compute shaders";
  }
  if (!matmul_cooperative_shape(device)) {
    return "VK_NV_cooperative_matrix lists no 16x16x16 shape with f16 A and B, f32 C and D, subgroup scope";
  }
  if (!float16_arithmetic(device) || !device.vulkan_memory_model) {
    return "cooperative matrices need Vulkan 1.2 with shaderFloat16 and vulkanMemoryModel here";
  }
  if (!(device.subgroup_operations & vk::SubgroupFeatureFlagBits::eBasic)) {
    return "cooperative matrices need subgroup operations in compute shaders";
  }
  if (device.min_subgroup_size != device.max_subgroup_size) {
    return fmt::format("subgroups of {} to {} invocations: matmul_coopmat needs one fixed subgroup size",
                       device.min_subgroup_size, device.max_subgroup_size);
  }
  return {};
}

std::vector<const char*> device_extensions(const DeviceInfo& device, bool cooperative_matrix) {
  std::vector<const char*> names;
  if (device.portability_subset) names.push_back(kPortabilitySubsetExtension);
  if (cooperative_matrix) names.push_back(VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
  return names;
}

void classify_memory(DeviceInfo& info, const vk::PhysicalDeviceMemoryProperties& memory) {
  using Flags = vk::MemoryPropertyFlagBits;
  info.heaps.clear();
  for (uint32_t i = 0; i < memory.memoryHeapCount; ++i) {
    info.heaps.push_back({.size = memory.memoryHeaps[i].size,
                          .device_local = bool(memory.memoryHeaps[i].flags & vk::MemoryHeapFlagBits::eDeviceLocal)});
  }
  const bool system_memory = info.type == vk::PhysicalDeviceType::eCpu ||
                             info.type == vk::PhysicalDeviceType::eIntegratedGpu;
  constexpr uint64_t kSmallBar = 256ull << 20;  // the classic PCI BAR window of discrete GPUs
  for (uint32_t i = 0; i < memory.memoryTypeCount; ++i) {
    const auto flags = memory.memoryTypes[i].propertyFlags;
    auto& heap = info.heaps[memory.memoryTypes[i].heapIndex];
    if (!(flags & Flags::eHostVisible)) continue;
    heap.host_visible = true;
    if (!(flags & Flags::eDeviceLocal)) continue;
    if (system_memory) info.unified_memory = true;
    if (info.type == vk::PhysicalDeviceType::eDiscreteGpu && heap.device_local && heap.size > kSmallBar) {
      info.resizable_bar = true;
    }
  }
}

namespace {

struct Extensions {
  std::vector<vk::ExtensionProperties> list;
  bool has(std::string_view name) const {
    return std::any_of(list.begin(), list.end(), [&](const auto& e) { return name == e.extensionName.data(); });
  }
};

void describe_limits(DeviceInfo& info, const vk::PhysicalDeviceLimits& limits) {
  info.shared_memory_bytes = limits.maxComputeSharedMemorySize;
  info.max_workgroup_invocations = limits.maxComputeWorkGroupInvocations;
  for (int i = 0; i < 3; ++i) {
    info.max_workgroup_size[i] = limits.maxComputeWorkGroupSize[i];
    info.max_workgroup_count[i] = limits.maxComputeWorkGroupCount[i];
  }
  info.max_storage_buffer_range = limits.maxStorageBufferRange;
  info.max_texel_buffer_elements = limits.maxTexelBufferElements;
  info.min_storage_buffer_offset_alignment = limits.minStorageBufferOffsetAlignment;
  info.max_storage_buffers_per_stage = limits.maxPerStageDescriptorStorageBuffers;
  info.max_sampled_images_per_stage = limits.maxPerStageDescriptorSampledImages;
  info.max_resources_per_stage = limits.maxPerStageResources;
  info.max_push_constants_bytes = limits.maxPushConstantsSize;
  info.timestamp_period_ns = limits.timestampPeriod;
}

// Core structs only up to the usable version; below it, the extension that provides the same struct.
void describe_versioned(DeviceInfo& info, vk::PhysicalDevice physical, const Extensions& extensions) {
  const bool v12 = info.usable_api_version >= VK_API_VERSION_1_2;
  if (v12 || extensions.has(VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME)) {
    auto chain = physical.getProperties2<vk::PhysicalDeviceProperties2, vk::PhysicalDeviceDriverProperties>();
    const auto& driver = chain.get<vk::PhysicalDeviceDriverProperties>();
    info.driver_name = driver.driverName.data();
    info.driver_info = driver.driverInfo.data();
  }
  if (v12 || extensions.has(VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME)) {
    auto chain = physical.getFeatures2<vk::PhysicalDeviceFeatures2, vk::PhysicalDeviceShaderFloat16Int8Features>();
    info.shader_float16 = chain.get<vk::PhysicalDeviceShaderFloat16Int8Features>().shaderFloat16;
  }
  // The subgroup size range is core only in 1.3, which the instance does not ask for.
  if (extensions.has(VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME)) {
    auto chain = physical.getProperties2<vk::PhysicalDeviceProperties2, vk::PhysicalDeviceSubgroupSizeControlPropertiesEXT>();
    const auto& control = chain.get<vk::PhysicalDeviceSubgroupSizeControlPropertiesEXT>();
    info.min_subgroup_size = control.minSubgroupSize;
    info.max_subgroup_size = control.maxSubgroupSize;
  }
}

// Queried only where the NV extension is offered (so lavapipe's queries stay as they were).
void describe_cooperative_matrix(DeviceInfo& info, vk::PhysicalDevice physical, const Extensions& extensions) {
  info.cooperative_matrix_khr = extensions.has("VK_KHR_cooperative_matrix");  // not in the 1.3.239 headers
  if (!extensions.has(VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME) ||
      !VULKAN_HPP_DEFAULT_DISPATCHER.vkGetPhysicalDeviceCooperativeMatrixPropertiesNV) {
    return;
  }
  const auto features =
      physical.getFeatures2<vk::PhysicalDeviceFeatures2, vk::PhysicalDeviceCooperativeMatrixFeaturesNV>();
  const auto properties =
      physical.getProperties2<vk::PhysicalDeviceProperties2, vk::PhysicalDeviceCooperativeMatrixPropertiesNV>();
  info.cooperative_matrix_nv = features.get<vk::PhysicalDeviceCooperativeMatrixFeaturesNV>().cooperativeMatrix &&
                               bool(properties.get<vk::PhysicalDeviceCooperativeMatrixPropertiesNV>()
                                        .cooperativeMatrixSupportedStages & vk::ShaderStageFlagBits::eCompute);
  for (const auto& p : physical.getCooperativeMatrixPropertiesNV()) {
    info.cooperative_matrix_shapes.push_back({.m = p.MSize, .n = p.NSize, .k = p.KSize, .a = p.AType, .b = p.BType,
                                              .c = p.CType, .d = p.DType, .scope = p.scope});
  }
  if (info.usable_api_version >= VK_API_VERSION_1_2) {
    const auto model =
        physical.getFeatures2<vk::PhysicalDeviceFeatures2, vk::PhysicalDeviceVulkanMemoryModelFeatures>();
    info.vulkan_memory_model = model.get<vk::PhysicalDeviceVulkanMemoryModelFeatures>().vulkanMemoryModel;
  }
}

void describe_memory(DeviceInfo& info, vk::PhysicalDevice physical) {
  auto chain = physical.getMemoryProperties2<vk::PhysicalDeviceMemoryProperties2,
                                             vk::PhysicalDeviceMemoryBudgetPropertiesEXT>();
  if (!info.memory_budget) chain.unlink<vk::PhysicalDeviceMemoryBudgetPropertiesEXT>();
  classify_memory(info, chain.get<vk::PhysicalDeviceMemoryProperties2>().memoryProperties);
  if (!info.memory_budget) return;
  const auto& budget = chain.get<vk::PhysicalDeviceMemoryBudgetPropertiesEXT>();
  for (size_t i = 0; i < info.heaps.size(); ++i) {
    info.heaps[i].budget = budget.heapBudget[i];
    info.heaps[i].usage = budget.heapUsage[i];
  }
}
}  // namespace

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
  info.usable_api_version = std::min(props.apiVersion, instance_api_version());
  const auto& subgroup = chain.get<vk::PhysicalDeviceSubgroupProperties>();
  info.subgroup_size = subgroup.subgroupSize;
  if (subgroup.supportedStages & vk::ShaderStageFlagBits::eCompute) info.subgroup_operations = subgroup.supportedOperations;
  info.subgroup_arithmetic = bool(info.subgroup_operations & vk::SubgroupFeatureFlagBits::eBasic) &&
                             bool(info.subgroup_operations & vk::SubgroupFeatureFlagBits::eArithmetic);
  info.min_subgroup_size = info.max_subgroup_size = info.subgroup_size;
  describe_limits(info, props.limits);
  info.max_allocation_size = chain.get<vk::PhysicalDeviceMaintenance3Properties>().maxMemoryAllocationSize;

  info.f16_texel_buffers = bool(physical.getFormatProperties(vk::Format::eR16G16B16A16Sfloat).bufferFeatures &
                                vk::FormatFeatureFlagBits::eUniformTexelBuffer);
  info.storage_buffer_16bit = physical.getFeatures2<vk::PhysicalDeviceFeatures2, vk::PhysicalDevice16BitStorageFeatures>()
                                  .get<vk::PhysicalDevice16BitStorageFeatures>()
                                  .storageBuffer16BitAccess;
  const Extensions extensions{physical.enumerateDeviceExtensionProperties()};
  info.portability_subset = extensions.has(kPortabilitySubsetExtension);
  info.memory_budget = extensions.has(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  describe_versioned(info, physical, extensions);
  describe_cooperative_matrix(info, physical, extensions);

  const auto families = physical.getQueueFamilyProperties();
  for (const auto& family : families) {
    if (family.queueFlags & vk::QueueFlagBits::eCompute) {
      info.timestamp_valid_bits = family.timestampValidBits;
      break;
    }
  }
  describe_memory(info, physical);
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
  std::string wanted = selector, origin = "device ";
  if (wanted.empty()) {
    if (const char* env = std::getenv("VKFORMER_DEVICE")) {
      wanted = env;
      origin = "VKFORMER_DEVICE=";
    }
  }
  if (!wanted.empty()) {
    if (std::all_of(wanted.begin(), wanted.end(), [](unsigned char c) { return std::isdigit(c); })) {
      // More digits than any device count has would overflow stoul.
      const unsigned long index = wanted.size() > 9 ? devices.size() : std::stoul(wanted);
      if (index >= devices.size()) {
        throw Error(fmt::format("{}{}: no such device, {} Vulkan device(s) found (see `vkformer devices`)", origin,
                                wanted, devices.size()));
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
