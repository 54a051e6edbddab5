#include "vkformer/context.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstdlib>
#include <mutex>
#include <string>

#include <fmt/format.h>

#include "vkformer/error.hpp"
#include "shaders.hpp"

namespace vkformer {

static uint32_t choose_queue_family(vk::PhysicalDevice physical) {
  const auto families = physical.getQueueFamilyProperties();
  std::optional<uint32_t> any_compute;
  for (uint32_t i = 0; i < families.size(); ++i) {
    const auto flags = families[i].queueFlags;
    if (!(flags & vk::QueueFlagBits::eCompute)) continue;
    // A compute-only family runs beside graphics work instead of queueing behind it.
    if (!(flags & vk::QueueFlagBits::eGraphics)) return i;
    if (!any_compute) any_compute = i;
  }
  if (!any_compute) throw Error("the chosen Vulkan device has no compute queue");
  return *any_compute;
}

// ContextOptions::max_storage_buffer_range, else VKFORMER_MAX_STORAGE_BUFFER_RANGE (bytes), else 0.
static uint64_t storage_range_override(const ContextOptions& options) {
  if (options.max_storage_buffer_range) return options.max_storage_buffer_range;
  const char* value = std::getenv("VKFORMER_MAX_STORAGE_BUFFER_RANGE");
  if (!value || !*value) return 0;
  uint64_t bytes = 0;
  const std::string_view text(value);
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), bytes);
  if (error != std::errc() || end != text.data() + text.size() || bytes == 0) {
    throw Error(fmt::format("VKFORMER_MAX_STORAGE_BUFFER_RANGE='{}' is not a positive number of bytes", text));
  }
  return bytes;
}

namespace {
constexpr uint32_t kOpCapability = 17;

// The subgroup operations that each GroupNonUniform* capability (61..68) needs in compute shaders.
vk::SubgroupFeatureFlags subgroup_operation(uint32_t capability) {
  using Op = vk::SubgroupFeatureFlagBits;
  switch (capability) {
    case 61: return Op::eBasic;
    case 62: return Op::eVote;
    case 63: return Op::eArithmetic;
    case 64: return Op::eBallot;
    case 65: return Op::eShuffle;
    case 66: return Op::eShuffleRelative;
    case 67: return Op::eClustered;
    case 68: return Op::eQuad;
    default: return {};
  }
}

// Float16 (enabled where the device has it), VulkanMemoryModel and CooperativeMatrixNV: what matmul_coopmat
// declares, the last two enabled with the extension.
constexpr uint32_t kFloat16 = 9, kVulkanMemoryModel = 5345, kCooperativeMatrixNV = 5357;

std::string describe_capability(uint32_t capability) {
  if (const auto op = subgroup_operation(capability)) {
    return fmt::format("subgroup capability {} ({} in compute shaders), which the device lacks", capability,
                       vk::to_string(op));
  }
  if (capability == kFloat16) {
    return "capability 9 (Float16), which needs shaderFloat16 on Vulkan 1.2, which the device lacks";
  }
  if (capability == kVulkanMemoryModel || capability == kCooperativeMatrixNV) {
    return fmt::format("capability {} ({}), which vkformer enables only under a tuning with cooperative matrices",
                       capability, capability == kVulkanMemoryModel ? "VulkanMemoryModel" : "CooperativeMatrixNV");
  }
  return fmt::format("capability {}, which needs a device feature that vkformer does not enable", capability);
}
}  // namespace

std::vector<std::string> missing_capabilities(std::string_view shader, const DeviceInfo& device,
                                              bool cooperative_matrix) {
  const auto words = shaders::find(shader);
  std::vector<std::string> missing;
  // OpCapability instructions open the module, after the 5-word header.
  for (size_t at = 5; at < words.size() && (words[at] & 0xffff) == kOpCapability; at += words[at] >> 16) {
    const uint32_t capability = words[at + 1];
    constexpr uint32_t kShader = 1, kSampledBuffer = 46;  // core Vulkan 1.0: no feature needed
    if (capability == kShader || capability == kSampledBuffer) continue;
    if (capability == kFloat16 && float16_arithmetic(device)) continue;
    if (cooperative_matrix && (capability == kVulkanMemoryModel || capability == kCooperativeMatrixNV)) continue;
    const auto op = subgroup_operation(capability);
    if (op && (device.subgroup_operations & op) == op) continue;
    missing.push_back(describe_capability(capability));
  }
  return missing;
}

// The tuning was checked against kernel_bindings(): a listed shader must bind what the table says, an
// unlisted one (a benchmark's) no more than the most any listed one binds.
static void check_bindings(const KernelSpec& spec) {
  const uint32_t texel = uint32_t(std::popcount(spec.texel_bindings));
  const uint32_t storage = spec.bindings - texel;
  const auto& table = kernel_bindings();
  const auto entry = std::find_if(table.begin(), table.end(), [&](const auto& k) { return k.shader == spec.shader; });
  bool fits = entry != table.end() && entry->storage_buffers == storage && entry->texel_buffers == texel;
  if (entry == table.end()) {
    fits = std::any_of(table.begin(), table.end(), [&](const auto& k) { return k.storage_buffers >= storage; }) &&
           std::any_of(table.begin(), table.end(), [&](const auto& k) { return k.texel_buffers >= texel; });
  }
  if (!fits) {
    throw Error(fmt::format("shader '{}' binds {} storage and {} texel buffers, which kernel_bindings() in "
                            "src/runtime/tuning.cpp does not say", spec.shader, storage, texel));
  }
}

namespace {
// LP_NUM_THREADS = `threads` for its lifetime (llvmpipe reads it when the instance lists its devices), then
// the caller's value again, so that the setting stays with the Context that asked for it. setenv is not
// thread-safe: Contexts that set it are made one at a time.
class DriverThreads {
 public:
  explicit DriverThreads(std::optional<uint32_t> threads) {
    if (!threads) return;
    static std::mutex mutex;
    lock_ = std::unique_lock(mutex);
    if (const char* value = std::getenv(kVariable)) previous_ = value;
    setenv(kVariable, std::to_string(*threads).c_str(), 1);
  }
  ~DriverThreads() {
    if (!lock_) return;
    if (previous_) {
      setenv(kVariable, previous_->c_str(), 1);
    } else {
      unsetenv(kVariable);
    }
  }
  DriverThreads(const DriverThreads&) = delete;
  DriverThreads& operator=(const DriverThreads&) = delete;

 private:
  static constexpr const char* kVariable = "LP_NUM_THREADS";
  std::unique_lock<std::mutex> lock_;
  std::optional<std::string> previous_;
};
}  // namespace

Context::Context(const ContextOptions& options) {
  std::vector<DeviceInfo> devices;
  {
    const DriverThreads threads(options.cpu_threads);
    instance_ = std::make_unique<Instance>(options.validation);
    devices = describe_devices(instance_->handle());
  }
  const uint32_t index = choose_device(devices, options.device);
  info_ = devices[index];
  if (const uint64_t range = storage_range_override(options)) {
    info_.max_storage_buffer_range = std::min(info_.max_storage_buffer_range, range);
  }
  if (info_.api_version < VK_API_VERSION_1_1) {
    throw Error(fmt::format("device '{}' supports Vulkan {} but vkformer needs 1.1 or newer", info_.name,
                            info_.api_version_string()));
  }
  physical_ = instance_->handle().enumeratePhysicalDevices()[index];
  tuning_ = *choose_tuning(info_, options.tuning).tuning;
  memory_properties_ = physical_.getMemoryProperties();
  queue_family_ = choose_queue_family(physical_);
  info_.timestamp_valid_bits = physical_.getQueueFamilyProperties()[queue_family_].timestampValidBits;

  const float priority = 1.0f;
  vk::DeviceQueueCreateInfo queue_info{.queueFamilyIndex = queue_family_, .queueCount = 1,
                                       .pQueuePriorities = &priority};
  // No optional feature but shaderFloat16 where the device has it (the f16 peak-FMA kernel), and what
  // matmul_coopmat needs under a tuning that uses it (choose_tuning has checked that the device has each,
  // Vulkan 1.2 included): the other shaders need none (Context::kernel refuses a capability that would).
  const auto extensions = device_extensions(info_, cooperative_matrix());
  vk::PhysicalDeviceVulkanMemoryModelFeatures memory_model{.vulkanMemoryModel = true};
  vk::PhysicalDeviceShaderFloat16Int8Features float16{.pNext = cooperative_matrix() ? &memory_model : nullptr,
                                                      .shaderFloat16 = true};
  vk::PhysicalDeviceCooperativeMatrixFeaturesNV cooperative{.pNext = &float16, .cooperativeMatrix = true};
  void* features = cooperative_matrix() ? static_cast<void*>(&cooperative)
                   : float16_arithmetic(info_) ? static_cast<void*>(&float16)
                                               : nullptr;
  try {
    device_ = physical_.createDevice({.pNext = features,
                                      .queueCreateInfoCount = 1,
                                      .pQueueCreateInfos = &queue_info,
                                      .enabledExtensionCount = uint32_t(extensions.size()),
                                      .ppEnabledExtensionNames = extensions.data()});
  } catch (const vk::SystemError& e) {
    throw Error(fmt::format("cannot open Vulkan device '{}': {}", info_.name, e.what()));
  }
  // The dispatcher keeps the instance's device commands, the loader's trampolines, which dispatch by handle:
  // the device's own (init(device_)) would be replaced by those of the next Context opened, of another
  // driver perhaps, while this one still uses them.
  queue_ = device_.getQueue(queue_family_, 0);
  command_pool_ = device_.createCommandPool(
      {.flags = vk::CommandPoolCreateFlagBits::eResetCommandBuffer, .queueFamilyIndex = queue_family_});
  fence_ = device_.createFence({});
  load_pipeline_cache(options.pipeline_cache);
}

Context::~Context() {
  if (!device_) return;
  device_.waitIdle();
  save_pipeline_cache();
  placeholder_.reset();
  placeholder_uint_.reset();
  for (auto& [key, kernel] : kernels_) {
    device_.destroyPipeline(kernel->pipeline);
    device_.destroyPipelineLayout(kernel->layout);
    device_.destroyDescriptorSetLayout(kernel->set_layout);
  }
  device_.destroyPipelineCache(pipeline_cache_);
  device_.destroyFence(fence_);
  device_.destroyCommandPool(command_pool_);
  device_.destroy();
}

const Kernel& Context::kernel(const KernelSpec& spec) {
  const std::string key = spec.key();
  if (auto found = kernels_.find(key); found != kernels_.end()) return *found->second;

  const auto words = shaders::find(spec.shader);
  check_bindings(spec);
  if (const auto missing = missing_capabilities(spec.shader, info_, cooperative_matrix()); !missing.empty()) {
    throw Error(fmt::format("shader '{}' cannot run on device '{}': it declares {}", spec.shader, info_.name,
                            missing.front()));
  }
  auto kernel = std::make_unique<Kernel>();
  kernel->spec = spec;
  std::vector<vk::DescriptorSetLayoutBinding> bindings;
  for (uint32_t i = 0; i < spec.bindings; ++i) {
    const bool texel = spec.texel_bindings & (1u << i);
    bindings.push_back({.binding = i,
                        .descriptorType = texel ? vk::DescriptorType::eUniformTexelBuffer
                                                : vk::DescriptorType::eStorageBuffer,
                        .descriptorCount = 1, .stageFlags = vk::ShaderStageFlagBits::eCompute});
  }
  kernel->set_layout = device_.createDescriptorSetLayout(
      {.bindingCount = uint32_t(bindings.size()), .pBindings = bindings.data()});
  vk::PushConstantRange push{.stageFlags = vk::ShaderStageFlagBits::eCompute, .offset = 0,
                             .size = spec.push_constant_bytes};
  kernel->layout = device_.createPipelineLayout({.setLayoutCount = 1, .pSetLayouts = &kernel->set_layout,
                                                 .pushConstantRangeCount = spec.push_constant_bytes ? 1u : 0u,
                                                 .pPushConstantRanges = &push});
  vk::ShaderModule module = device_.createShaderModule({.codeSize = words.size_bytes(), .pCode = words.data()});
  std::vector<vk::SpecializationMapEntry> entries;
  for (uint32_t i = 0; i < spec.specialization.size(); ++i) {
    entries.push_back({.constantID = i, .offset = i * 4u, .size = 4});
  }
  vk::SpecializationInfo specialization{.mapEntryCount = uint32_t(entries.size()), .pMapEntries = entries.data(),
                                        .dataSize = spec.specialization.size() * 4,
                                        .pData = spec.specialization.data()};
  vk::ComputePipelineCreateInfo create{
      .stage = {.stage = vk::ShaderStageFlagBits::eCompute, .module = module, .pName = "main",
                .pSpecializationInfo = &specialization},
      .layout = kernel->layout};
  auto result = device_.createComputePipeline(pipeline_cache_, create);
  device_.destroyShaderModule(module);
  if (result.result != vk::Result::eSuccess) {
    throw Error(fmt::format("cannot create pipeline for shader '{}': {}", spec.shader, vk::to_string(result.result)));
  }
  kernel->pipeline = result.value;
  set_name(kernel->pipeline, key);
  return *kernels_.emplace(key, std::move(kernel)).first->second;
}

void Context::submit_and_wait(const std::vector<vk::CommandBuffer>& command_buffers) {
  vk::SubmitInfo submit{.commandBufferCount = uint32_t(command_buffers.size()),
                        .pCommandBuffers = command_buffers.data()};
  try {
    queue_.submit(submit, fence_);
    if (device_.waitForFences(fence_, VK_TRUE, UINT64_MAX) != vk::Result::eSuccess) {
      throw Error("waiting for the Vulkan device timed out");
    }
  } catch (const vk::DeviceLostError&) {
    throw Error(fmt::format("the Vulkan device '{}' was lost (driver crash or timeout)", info_.name));
  } catch (const vk::OutOfDeviceMemoryError&) {
    throw Error(fmt::format("out of device memory on '{}' while running a submit", info_.name));
  }
  device_.resetFences(fence_);
}

void Context::set_object_name(vk::ObjectType type, uint64_t handle, const std::string& name) const {
  if (!debug_utils()) return;
  device_.setDebugUtilsObjectNameEXT({.objectType = type, .objectHandle = handle, .pObjectName = name.c_str()});
}

vk::BufferView Context::placeholder_vec4_view() {
  if (!placeholder_) placeholder_ = std::make_unique<Buffer>(*this, 16, "placeholder.vec4");
  return placeholder_->vec4_view();
}

vk::BufferView Context::placeholder_uint_view() {
  if (!placeholder_uint_) {
    placeholder_uint_ = std::make_unique<Buffer>(*this, 16, "placeholder.uint", false, Element::i8);
  }
  return placeholder_uint_->uint_view();
}

std::string KernelSpec::key() const {
  std::string key = shader;
  for (uint32_t value : specialization) key += fmt::format(".{}", value);
  if (texel_bindings) key += fmt::format(".t{:x}", texel_bindings);
  return key;
}

}  // namespace vkformer
