// What lavapipe cannot show by itself: devices with other limits, memory layouts, subgroup support and
// extensions (MoltenVK, cooperative matrices), as DeviceInfo values; and the instance's messenger, fed by
// the loader.
#include <algorithm>
#include <cstdlib>
#include <optional>

#include "test_context.hpp"
#include "vkformer/error.hpp"
#include "vkformer/ops/layer_norm.hpp"
#include "vkformer/tuning.hpp"

using namespace vkformer;

namespace {
// The least every conformant Vulkan 1.1 device offers (the spec's "required limits"), on an NVIDIA GPU,
// except for storage buffers per stage: 4 is the minimum, vkformer needs 6 (tested below).
DeviceInfo minimum_device() {
  DeviceInfo d{.name = "minimum", .vendor_id = 0x10DE, .type = vk::PhysicalDeviceType::eDiscreteGpu};
  d.max_workgroup_invocations = 128;
  d.max_workgroup_size[0] = d.max_workgroup_size[1] = 128;
  d.max_workgroup_size[2] = 64;
  d.shared_memory_bytes = 16384;
  d.max_storage_buffers_per_stage = 8;
  d.max_sampled_images_per_stage = 16;
  d.max_resources_per_stage = 128;
  return d;
}

// Sets an environment variable for the scope, restoring the old value after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { old_ ? setenv(name_, old_->c_str(), 1) : unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

vk::PhysicalDeviceMemoryProperties one_heap(uint64_t heap_bytes, vk::MemoryPropertyFlags type_flags) {
  vk::PhysicalDeviceMemoryProperties memory{.memoryTypeCount = 1, .memoryHeapCount = 1};
  memory.memoryHeaps[0] = {.size = heap_bytes, .flags = vk::MemoryHeapFlagBits::eDeviceLocal};
  memory.memoryTypes[0] = {.propertyFlags = type_flags, .heapIndex = 0};
  return memory;
}
}  // namespace

TEST_CASE("portability drivers (MoltenVK) are enumerated and opened with their extensions", "[portability]") {
  const auto chosen = choose_instance_extensions(
      {VK_EXT_DEBUG_UTILS_EXTENSION_NAME, VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME, "VK_KHR_surface"});
  CHECK(chosen.names == std::vector<std::string>{VK_EXT_DEBUG_UTILS_EXTENSION_NAME,
                                                 VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME});
  CHECK(chosen.enumerate_portability);
  const auto old_loader = choose_instance_extensions({VK_EXT_DEBUG_UTILS_EXTENSION_NAME});
  CHECK(old_loader.names == std::vector<std::string>{VK_EXT_DEBUG_UTILS_EXTENSION_NAME});
  CHECK(!old_loader.enumerate_portability);

  DeviceInfo moltenvk{.portability_subset = true};
  REQUIRE(device_extensions(moltenvk).size() == 1);
  CHECK(std::string(device_extensions(moltenvk)[0]) == "VK_KHR_portability_subset");
  CHECK(device_extensions(DeviceInfo{}).empty());

  // Debian 12's loader (1.3.239) offers the extension: the real instance takes it.
  Instance instance;
  CHECK(instance.extensions().enumerate_portability);
}

TEST_CASE("the messenger counts every message type, from vkCreateInstance on", "[portability]") {
  // A driver manifest that does not exist: the loader reports it (type general) inside vkCreateInstance.
  // This prints one "vulkan general: ... /nonexistent-vkformer-icd.json" line on stderr.
  // The loader ignores VK_ADD_DRIVER_FILES where VK_DRIVER_FILES is set (tools/portability_check.sh).
  const char* listed = std::getenv("VK_DRIVER_FILES");
  const std::string bad = "/nonexistent-vkformer-icd.json";
  const ScopedEnv bad_driver(listed ? "VK_DRIVER_FILES" : "VK_ADD_DRIVER_FILES", listed ? bad + ":" + listed : bad);
  Instance instance(true);
  REQUIRE(instance.debug_utils());
  const uint32_t at_creation = instance.validation_messages();
  CHECK(at_creation >= 1);

  using Type = vk::DebugUtilsMessageTypeFlagBitsEXT;
  using Severity = vk::DebugUtilsMessageSeverityFlagBitsEXT;
  const vk::DebugUtilsMessengerCallbackDataEXT data{.pMessageIdName = "vkformer-test", .pMessage = "a test message"};
  for (const auto type : {Type::eGeneral, Type::eValidation, Type::ePerformance}) {
    const uint32_t before = instance.validation_messages();
    instance.handle().submitDebugUtilsMessageEXT(Severity::eWarning, type, data);
    CHECK(instance.validation_messages() == before + 1);
  }
  const uint32_t before_info = instance.validation_messages();
  instance.handle().submitDebugUtilsMessageEXT(Severity::eInfo, Type::ePerformance, data);
  CHECK(instance.validation_messages() == before_info);
}

TEST_CASE("devices are queried within the instance's version, memory budgets where reported", "[portability]") {
  Instance instance(true);
  for (const auto& device : describe_devices(instance.handle())) {
    CHECK(device.usable_api_version <= instance_api_version());
    CHECK(device.usable_api_version <= device.api_version);
    CHECK(device.min_subgroup_size <= device.subgroup_size);
    CHECK(device.subgroup_size <= device.max_subgroup_size);
    for (const auto& heap : device.heaps) CHECK((heap.budget > 0) == device.memory_budget);
  }
  CHECK(instance.validation_messages() == 0);
}

TEST_CASE("unified memory is a CPU or integrated GPU, never a discrete GPU with a large BAR", "[portability]") {
  using F = vk::MemoryPropertyFlagBits;
  const auto mappable_vram = F::eDeviceLocal | F::eHostVisible | F::eHostCoherent;
  DeviceInfo rebar{.type = vk::PhysicalDeviceType::eDiscreteGpu};
  classify_memory(rebar, one_heap(24ull << 30, mappable_vram));
  CHECK(rebar.resizable_bar);
  CHECK(!rebar.unified_memory);
  CHECK(rebar.heaps.at(0).host_visible);

  DeviceInfo small_bar{.type = vk::PhysicalDeviceType::eDiscreteGpu};
  classify_memory(small_bar, one_heap(256ull << 20, mappable_vram));
  CHECK(!small_bar.resizable_bar);
  CHECK(!small_bar.unified_memory);

  DeviceInfo integrated{.type = vk::PhysicalDeviceType::eIntegratedGpu};
  classify_memory(integrated, one_heap(8ull << 30, mappable_vram));
  CHECK(integrated.unified_memory);
  CHECK(!integrated.resizable_bar);

  DeviceInfo vram_only{.type = vk::PhysicalDeviceType::eDiscreteGpu};
  classify_memory(vram_only, one_heap(24ull << 30, F::eDeviceLocal));
  CHECK(!vram_only.resizable_bar);
  CHECK(!vram_only.heaps.at(0).host_visible);
}

TEST_CASE("a tuning that does not fit the device's limits falls back to one that does", "[portability]") {
  const DeviceInfo small = minimum_device();
  // 'generic' is the safe choice: it fits every conformant device.
  CHECK(tuning_misfits(*choose_tuning(small, "generic").tuning, small).empty());

  // nvidia's matmul workgroups and reductions exceed the minimum of 128 invocations.
  const auto choice = choose_tuning(small, "");
  CHECK(choice.tuning->name == "generic");
  CHECK_THAT(choice.fallback, Catch::Contains("'nvidia' does not fit") &&
                                  Catch::Contains("invocations per workgroup exceed maxComputeWorkGroupInvocations 128"));
  CHECK_THROWS_WITH(choose_tuning(small, "nvidia"), Catch::Contains("tuning 'nvidia' does not fit device 'minimum'") &&
                                                        Catch::Contains("maxComputeWorkGroupInvocations 128"));

  // Shared memory alone: an NVIDIA GPU has 48 KiB; nvidia's tiled matmul stages more than 8 KiB.
  DeviceInfo little_shared = minimum_device();
  little_shared.max_workgroup_invocations = 1024;
  little_shared.max_workgroup_size[0] = little_shared.max_workgroup_size[1] = 1024;
  little_shared.shared_memory_bytes = 48 << 10;
  CHECK(choose_tuning(little_shared, "").tuning->name == "nvidia");
  little_shared.shared_memory_bytes = 8192;
  const auto shrunk = choose_tuning(little_shared, "");
  CHECK(shrunk.tuning->name == "generic");
  CHECK_THAT(shrunk.fallback, Catch::Contains("matmul_tiled: ") &&
                                  Catch::Contains("bytes of shared memory exceed maxComputeSharedMemorySize 8192"));

  // Storage buffers: the matmuls with a fused layer norm bind 8, generic (separate layer_norm dispatches) 7.
  DeviceInfo seven_buffers = little_shared;
  seven_buffers.shared_memory_bytes = 48 << 10;
  seven_buffers.max_storage_buffers_per_stage = 7;
  const auto unfused = choose_tuning(seven_buffers, "");
  CHECK(unfused.tuning->name == "generic");
  CHECK_THAT(unfused.fallback, Catch::Contains("matmul_tiled_norm: 8 storage buffers exceed "
                                               "maxPerStageDescriptorStorageBuffers 7"));

  // Workgroup size in one dimension.
  DeviceInfo narrow = little_shared;
  narrow.shared_memory_bytes = 48 << 10;
  narrow.max_workgroup_size[1] = 8;
  CHECK_THAT(choose_tuning(narrow, "").fallback, Catch::Contains("exceeds maxComputeWorkGroupSize 1024x8"));

  // No tuning helps below 7 storage buffers per stage (layer_norm binds 6, attention 7).
  DeviceInfo four_buffers = minimum_device();
  four_buffers.max_storage_buffers_per_stage = 4;
  CHECK_THROWS_WITH(choose_tuning(four_buffers, ""),
                    Catch::Contains("below the limits") && Catch::Contains("layer_norm: 6 storage buffers exceed "
                                                                           "maxPerStageDescriptorStorageBuffers 4"));
}

TEST_CASE("every tuning fits lavapipe, so the conformance suite runs them all", "[portability]") {
  const DeviceInfo& device = testing::context_for().info();
  for (const auto& tuning : tuning_table()) {
    INFO(tuning.name);
    if (!tuning.cooperative_matrix) CHECK(tuning_misfits(tuning, device).empty());
  }
  // but the one with cooperative matrices, which lavapipe lacks: refused in one line naming the extension.
  REQUIRE(!device.cooperative_matrix_nv);
  CHECK_THROWS_WITH(choose_tuning(device, "nvidia-coopmat"),
                    Catch::Contains("tuning 'nvidia-coopmat' does not fit device") &&
                        Catch::Contains("matmul_coopmat: the device has no VK_NV_cooperative_matrix") &&
                        !Catch::Contains("\n"));
}

namespace {
// What an H200 reports (driver 580): NV cooperative matrices with a 16x16x16 f16 -> f32 shape among others.
DeviceInfo cooperative_device() {
  DeviceInfo d = minimum_device();
  d.max_workgroup_invocations = 1024;
  d.max_workgroup_size[0] = d.max_workgroup_size[1] = 1024;
  d.shared_memory_bytes = 48 << 10;
  d.usable_api_version = VK_API_VERSION_1_2;
  d.subgroup_size = d.min_subgroup_size = d.max_subgroup_size = 32;
  d.subgroup_operations = vk::SubgroupFeatureFlagBits::eBasic | vk::SubgroupFeatureFlagBits::eArithmetic;
  d.shader_float16 = d.vulkan_memory_model = d.cooperative_matrix_nv = d.cooperative_matrix_khr = true;
  using T = vk::ComponentTypeNV;
  d.cooperative_matrix_shapes = {
      {.m = 16, .n = 8, .k = 16, .a = T::eFloat16, .b = T::eFloat16, .c = T::eFloat16, .d = T::eFloat16,
       .scope = vk::ScopeNV::eSubgroup},
      {.m = 16, .n = 16, .k = 16, .a = T::eFloat16, .b = T::eFloat16, .c = T::eFloat32, .d = T::eFloat32,
       .scope = vk::ScopeNV::eSubgroup}};
  return d;
}
}  // namespace

TEST_CASE("the cooperative-matrix tuning is taken by name where the device has what matmul_coopmat needs",
          "[portability]") {
  const DeviceInfo device = cooperative_device();
  CHECK(cooperative_matrix_misfit(device).empty());
  REQUIRE(matmul_cooperative_shape(device) == &device.cooperative_matrix_shapes[1]);
  CHECK(device.cooperative_matrix_shapes[1].describe() == "16x16x16 A f16 B f16 C f32 D f32 subgroup");
  CHECK(choose_tuning(device, "nvidia-coopmat").tuning->cooperative_matrix);
  // Not by default: no device has passed its conformance run yet (cooperative_matrix_verified()).
  CHECK(cooperative_matrix_verified().empty());
  CHECK(choose_tuning(device, "").tuning->name == "nvidia");
  const auto extensions = device_extensions(device, true);
  CHECK(std::find_if(extensions.begin(), extensions.end(), [](const char* name) {
          return std::string_view(name) == "VK_NV_cooperative_matrix";
        }) != extensions.end());
  CHECK(device_extensions(device).empty());

  // Each missing piece refuses it, in one line.
  DeviceInfo khr_only = device;
  khr_only.cooperative_matrix_nv = false;
  CHECK_THAT(cooperative_matrix_misfit(khr_only),
             Catch::Contains("VK_KHR_cooperative_matrix but not VK_NV_cooperative_matrix"));
  DeviceInfo f16_accumulators = device;
  f16_accumulators.cooperative_matrix_shapes.pop_back();
  CHECK_THAT(cooperative_matrix_misfit(f16_accumulators), Catch::Contains("no 16x16x16 shape"));
  DeviceInfo no_memory_model = device;
  no_memory_model.vulkan_memory_model = false;
  CHECK_THAT(cooperative_matrix_misfit(no_memory_model), Catch::Contains("vulkanMemoryModel"));
  DeviceInfo varying = device;
  varying.min_subgroup_size = 8;
  CHECK_THROWS_WITH(choose_tuning(varying, "nvidia-coopmat"),
                    Catch::Contains("matmul_coopmat: subgroups of 8 to 32 invocations") && !Catch::Contains("\n"));

  // Its shared memory is checked like every kernel's: 24 KiB with 16x16x16 tiles.
  const Tuning& coopmat = *choose_tuning(device, "nvidia-coopmat").tuning;
  CHECK(coopmat_shared_bytes(coopmat, *matmul_cooperative_shape(device)) == 24576);
  DeviceInfo small_shared = device;
  small_shared.shared_memory_bytes = 20 << 10;
  CHECK_THROWS_WITH(choose_tuning(small_shared, "nvidia-coopmat"),
                    Catch::Contains("matmul_coopmat: 24576 bytes of shared memory exceed "
                                    "maxComputeSharedMemorySize 20480"));
}

TEST_CASE("layer_norm without subgroup arithmetic runs a module that does not declare it", "[portability]") {
  DeviceInfo without{};
  DeviceInfo with{.subgroup_operations = vk::SubgroupFeatureFlagBits::eBasic | vk::SubgroupFeatureFlagBits::eArithmetic,
                  .subgroup_arithmetic = true};
  CHECK(layer_norm_shader(without) == "layer_norm_nosubgroup");
  CHECK(layer_norm_shader(with) == "layer_norm");
  CHECK(layer_norm_shader(with, LayerNormSums::shared_memory) == "layer_norm_nosubgroup");

  const auto missing = missing_capabilities("layer_norm", without);
  REQUIRE(!missing.empty());
  CHECK_THAT(missing.back(), Catch::Contains("Arithmetic"));
  CHECK(missing_capabilities("layer_norm_nosubgroup", without).empty());
  CHECK(missing_capabilities("layer_norm", with).empty());
  // Vote alone is not arithmetic (Basic + Vote devices exist).
  DeviceInfo vote_only{.subgroup_operations = vk::SubgroupFeatureFlagBits::eBasic | vk::SubgroupFeatureFlagBits::eVote};
  CHECK(!missing_capabilities("layer_norm", vote_only).empty());
}

TEST_CASE("no shader needs a feature or subgroup operation that lavapipe lacks or vkformer does not enable",
          "[portability]") {
  const DeviceInfo& device = testing::context_for().info();
  for (const auto& kernel : kernel_bindings()) {
    INFO(kernel.shader);
    if (kernel.shader != "matmul_coopmat") CHECK(missing_capabilities(kernel.shader, device).empty());
  }
  // matmul_coopmat needs what a cooperative-matrix tuning enables, and only that (Float16 is enabled where
  // the device has it: lavapipe has).
  REQUIRE(float16_arithmetic(device));
  const auto missing = missing_capabilities("matmul_coopmat", device);
  REQUIRE(missing.size() == 2);
  CHECK_THAT(missing[0], Catch::Contains("(VulkanMemoryModel)") &&
                             Catch::Contains("only under a tuning with cooperative matrices"));
  CHECK_THAT(missing[1], Catch::Contains("(CooperativeMatrixNV)"));
  CHECK(missing_capabilities("matmul_coopmat", device, true).empty());
  CHECK(missing_capabilities("peak_fma_f16", device).empty());
}

TEST_CASE("f16 arithmetic needs shaderFloat16 on Vulkan 1.2", "[portability]") {
  DeviceInfo device = minimum_device();
  device.usable_api_version = VK_API_VERSION_1_2;
  CHECK(missing_capabilities("peak_fma", device).empty());
  const auto missing = missing_capabilities("peak_fma_f16", device);
  REQUIRE(missing.size() == 1);
  CHECK_THAT(missing[0], Catch::Contains("(Float16)") && Catch::Contains("shaderFloat16"));
  device.shader_float16 = true;
  CHECK(float16_arithmetic(device));
  CHECK(missing_capabilities("peak_fma_f16", device).empty());
  device.usable_api_version = VK_API_VERSION_1_1;  // the feature struct is core from 1.2
  CHECK(!float16_arithmetic(device));
  CHECK(!missing_capabilities("peak_fma_f16", device).empty());
}
