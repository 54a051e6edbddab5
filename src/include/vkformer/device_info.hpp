#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <vulkan/vulkan.hpp>

namespace vkformer {

// Defined in vulkan_beta.h, which needs VK_ENABLE_BETA_EXTENSIONS: named here instead.
inline constexpr const char* kPortabilitySubsetExtension = "VK_KHR_portability_subset";

// One cooperative-matrix shape a device runs (vkGetPhysicalDeviceCooperativeMatrixPropertiesNV):
// D [m, n] = A [m, k] . B [k, n] + C, with the matrices spread over `scope`'s invocations.
struct CooperativeMatrixShape {
  uint32_t m = 0, n = 0, k = 0;
  vk::ComponentTypeNV a{}, b{}, c{}, d{};
  vk::ScopeNV scope{};

  std::string describe() const;  // "16x16x16 A f16 B f16 C f32 D f32 subgroup"
};

struct MemoryHeapInfo {
  uint64_t size = 0;
  bool device_local = false;
  bool host_visible = false;  // some memory type on this heap can be mapped
  // VK_EXT_memory_budget: what this process may allocate here before the driver must page, and what it
  // (with everything else on the device, where the driver counts it) uses now. 0 without the extension.
  uint64_t budget = 0;
  uint64_t usage = 0;
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
  uint32_t api_version = 0;         // what the device reports
  uint32_t usable_api_version = 0;  // the lower of that and the instance's: what may be queried and used
  uint32_t subgroup_size = 0;
  uint32_t min_subgroup_size = 0;
  uint32_t max_subgroup_size = 0;
  vk::SubgroupFeatureFlags subgroup_operations;  // empty unless compute shaders have subgroups
  bool subgroup_arithmetic = false;  // subgroupAdd and friends in compute shaders
  uint32_t shared_memory_bytes = 0;
  uint32_t max_workgroup_invocations = 0;
  uint32_t max_workgroup_size[3] = {0, 0, 0};
  uint32_t max_workgroup_count[3] = {0, 0, 0};
  uint64_t max_storage_buffer_range = 0;
  uint64_t max_texel_buffer_elements = 0;
  uint64_t max_allocation_size = 0;
  uint64_t min_storage_buffer_offset_alignment = 0;
  uint32_t max_storage_buffers_per_stage = 0;  // maxPerStageDescriptorStorageBuffers
  uint32_t max_sampled_images_per_stage = 0;   // maxPerStageDescriptorSampledImages: uniform texel buffers count here
  uint32_t max_resources_per_stage = 0;        // maxPerStageResources
  uint32_t max_push_constants_bytes = 0;
  float timestamp_period_ns = 0;
  uint32_t timestamp_valid_bits = 0;
  // shaderFloat16 is enabled where float16_arithmetic() says (the f16 peak-FMA kernel; matmul_coopmat
  // stages f16 in shared memory); 16-bit storage is reported only.
  bool shader_float16 = false;
  bool storage_buffer_16bit = false;
  bool f16_texel_buffers = false;  // R16G16B16A16_SFLOAT uniform texel buffers (--precision f16)
  bool portability_subset = false;  // VK_KHR_portability_subset (MoltenVK): must be enabled when present
  // A CPU driver or integrated GPU with a device-local, host-visible type: all its memory is system memory.
  bool unified_memory = false;
  // A discrete GPU that maps a large (> 256 MiB) part of its own memory to the host (resizable BAR or
  // a large BAR): device-local and host-visible, but not system memory, so not unified.
  bool resizable_bar = false;
  bool memory_budget = false;  // VK_EXT_memory_budget: heaps carry budget and usage
  std::vector<MemoryHeapInfo> heaps;
  // VK_NV_cooperative_matrix with its cooperativeMatrix feature in compute shaders, and its shapes. The
  // Vulkan memory model is queried with it: glslang's NV matrices declare it (Vulkan 1.2 core, as shaderFloat16).
  bool cooperative_matrix_nv = false;
  bool vulkan_memory_model = false;
  std::vector<CooperativeMatrixShape> cooperative_matrix_shapes;
  // VK_KHR_cooperative_matrix is offered: reported only. Debian 12's glslang (11.13) cannot compile
  // GL_KHR_cooperative_matrix, nor its Vulkan headers (1.3.239) query the KHR shapes.
  bool cooperative_matrix_khr = false;

  std::string vendor_name() const;
  std::string type_name() const;
  std::string api_version_string() const;
};

// Fills `info.heaps` (sizes, device-local, host-visible) and sets unified_memory and resizable_bar from
// the device type (set before) and its memory properties.
void classify_memory(DeviceInfo& info, const vk::PhysicalDeviceMemoryProperties& memory);

// The Vulkan version vkformer asks the instance for, lowered to what the loader offers.
uint32_t instance_api_version();

std::vector<DeviceInfo> describe_devices(vk::Instance instance);

// The shape matmul_coopmat takes (16x16x16, f16 A and B, f32 C and D, subgroup scope), or nullptr when the
// device reports none.
const CooperativeMatrixShape* matmul_cooperative_shape(const DeviceInfo& device);

// Whether a Context opens the device with shaderFloat16 (Vulkan 1.2 core): f16 arithmetic in shaders.
bool float16_arithmetic(const DeviceInfo& device);

// Why matmul_coopmat cannot run on the device, one line; empty when it can: VK_NV_cooperative_matrix in
// compute with matmul_cooperative_shape(), shaderFloat16 and vulkanMemoryModel on Vulkan 1.2, subgroup
// operations and one fixed subgroup size (the shader counts subgroups per workgroup).
std::string cooperative_matrix_misfit(const DeviceInfo& device);

// The device extensions a Context enables: VK_KHR_portability_subset, which the spec requires wherever it
// is offered, and VK_NV_cooperative_matrix when `cooperative_matrix` (the tuning asks for it).
std::vector<const char*> device_extensions(const DeviceInfo& device, bool cooperative_matrix = false);

// Picks a device: `selector` (index or case-insensitive name substring) if given, else VKFORMER_DEVICE,
// else the best type (discrete > integrated > virtual > CPU). Throws Error if nothing matches.
uint32_t choose_device(const std::vector<DeviceInfo>& devices, const std::string& selector);

}  // namespace vkformer
