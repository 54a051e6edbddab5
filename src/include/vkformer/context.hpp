#pragma once
#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <vulkan/vulkan.hpp>

#include "vkformer/buffer.hpp"
#include "vkformer/device_info.hpp"
#include "vkformer/kernel.hpp"
#include "vkformer/tuning.hpp"

namespace vkformer {

struct ContextOptions {
  std::string device;           // index or name substring; empty: VKFORMER_DEVICE, then the best device
  std::string tuning;           // tuning table entry; empty: VKFORMER_TUNING, then chosen from the device
  bool validation = false;      // also on when VKFORMER_VALIDATION=1
  bool pipeline_cache = true;   // persisted under $XDG_CACHE_HOME/vkformer (or VKFORMER_CACHE_DIR)
  // Bytes: lowers the device's maxStorageBufferRange (never raises it), so that the splitting of big
  // tensors is tested on small models; 0: VKFORMER_MAX_STORAGE_BUFFER_RANGE, then the device's own.
  uint64_t max_storage_buffer_range = 0;
  // CPU drivers (lavapipe): the worker threads llvmpipe runs dispatches on (its LP_NUM_THREADS, set while
  // this Context lists the devices, the caller's value restored after). 0 runs each dispatch on the
  // submitting thread, without handing it to workers: faster where a decoder step is many small dispatches
  // (a small model, a sentence at a time; docs/BENCHMARKS.md). Unset: LP_NUM_THREADS, then one per core.
  std::optional<uint32_t> cpu_threads;
};

// The instance extensions vkformer enables, from those the loader offers: VK_EXT_debug_utils, and
// VK_KHR_portability_enumeration with its create flag (without both the loader hides MoltenVK).
struct InstanceExtensions {
  std::vector<std::string> names;
  bool enumerate_portability = false;
};
InstanceExtensions choose_instance_extensions(const std::vector<std::string>& offered);

// Creates the loader's instance alone, for listing devices without opening one.
class Instance {
 public:
  explicit Instance(bool validation = false);
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  vk::Instance handle() const { return instance_; }
  bool validation() const { return validation_; }
  bool debug_utils() const { return debug_utils_; }
  const InstanceExtensions& extensions() const { return extensions_; }
  // With validation: messages of severity warning or error seen so far, of every type (validation,
  // performance, general: the loader's too), from vkCreateInstance on. Each is also printed to stderr.
  uint32_t validation_messages() const { return messages_.load(); }

 private:
  vk::Instance instance_;
  vk::DebugUtilsMessengerEXT messenger_;
  InstanceExtensions extensions_;
  bool validation_ = false;
  bool debug_utils_ = false;
  std::atomic<uint32_t> messages_{0};
  friend struct InstanceCallbacks;
};

// What the embedded SPIR-V `shader` declares that `device`, opened as Context opens it, cannot run: one
// line per capability; empty when it can. The optional features enabled: shaderFloat16 where the device
// has it (float16_arithmetic), and with `cooperative_matrix` (a tuning that uses it)
// VK_NV_cooperative_matrix and vulkanMemoryModel.
std::vector<std::string> missing_capabilities(std::string_view shader, const DeviceInfo& device,
                                              bool cooperative_matrix = false);

// One logical device with one compute queue: owns kernels (pipelines), the pipeline cache and the
// command pool. Not thread-safe: one host thread drives a Context.
class Context {
 public:
  explicit Context(const ContextOptions& options = {});
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  vk::Device device() const { return device_; }
  vk::Queue queue() const { return queue_; }
  uint32_t queue_family() const { return queue_family_; }
  vk::CommandPool command_pool() const { return command_pool_; }
  const DeviceInfo& info() const { return info_; }
  const Tuning& tuning() const { return tuning_; }
  // The device was opened with VK_NV_cooperative_matrix and what matmul_coopmat needs beside it: only
  // under a tuning that uses cooperative matrices, which fits only where the device has them.
  bool cooperative_matrix() const { return tuning_.cooperative_matrix; }
  // Opened with shaderFloat16: shaders may compute in f16 (float16_arithmetic).
  bool float16() const { return float16_arithmetic(info_); }
  const vk::PhysicalDeviceMemoryProperties& memory_properties() const { return memory_properties_; }
  vk::PhysicalDevice physical() const { return physical_; }
  Instance& instance() { return *instance_; }
  bool debug_utils() const { return instance_->debug_utils(); }
  uint32_t validation_messages() const { return instance_->validation_messages(); }

  // A compute pipeline for `spec`, created once and kept for the Context's lifetime.
  const Kernel& kernel(const KernelSpec& spec);

  // Submits command buffers in one vkQueueSubmit and waits for them.
  void submit_and_wait(const std::vector<vk::CommandBuffer>& command_buffers);

  // Names a Vulkan object for debuggers (RenderDoc, Nsight, RGP) when VK_EXT_debug_utils is present.
  template <typename Handle>
  void set_name(Handle handle, const std::string& name) const {
    set_object_name(Handle::objectType, reinterpret_cast<uint64_t>(static_cast<typename Handle::CType>(handle)),
                    name);
  }

  void save_pipeline_cache() const;

  // A one-texel vec4 view bound in place of a buffer without a view (see Buffer::vec4_view); kernels
  // must not read it (they take their scalar path then).
  vk::BufferView placeholder_vec4_view();
  // The same for `utextureBuffer` bindings (Buffer::uint_view).
  vk::BufferView placeholder_uint_view();

 private:
  void set_object_name(vk::ObjectType type, uint64_t handle, const std::string& name) const;
  void load_pipeline_cache(bool enabled);

  std::unique_ptr<Instance> instance_;
  vk::PhysicalDevice physical_;
  DeviceInfo info_;
  Tuning tuning_;
  vk::PhysicalDeviceMemoryProperties memory_properties_;
  vk::Device device_;
  vk::Queue queue_;
  uint32_t queue_family_ = 0;
  vk::CommandPool command_pool_;
  vk::Fence fence_;
  vk::PipelineCache pipeline_cache_;
  std::filesystem::path pipeline_cache_path_;
  std::map<std::string, std::unique_ptr<Kernel>, std::less<>> kernels_;
  std::unique_ptr<Buffer> placeholder_, placeholder_uint_;
};

}  // namespace vkformer
