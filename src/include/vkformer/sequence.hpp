#pragma once
#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <vulkan/vulkan.hpp>

#include "vkformer/buffer.hpp"
#include "vkformer/kernel.hpp"

namespace vkformer {

class Context;

// Arithmetic and memory traffic of one dispatch, for profiles (achieved GFLOPS and GB/s).
struct DispatchCost {
  double flops = 0;
  double bytes = 0;
};

// A recorded command buffer of compute dispatches, replayed many times (Kompute's idea): record once
// with begin()/dispatch()/end(), then submit command_buffer() as often as needed. Each dispatch is
// followed by a compute->compute memory barrier. With timestamps on, a timestamp is written before the
// first dispatch and after each one (no extra barriers), so dispatch_times() gives the real schedule.
class Sequence {
 public:
  Sequence(Context& context, std::string name, bool timestamps = false);
  ~Sequence();
  Sequence(const Sequence&) = delete;
  Sequence& operator=(const Sequence&) = delete;

  void begin();
  void dispatch(const Kernel& kernel, std::initializer_list<const Buffer*> buffers, const void* push,
                uint32_t push_bytes, std::array<uint32_t, 3> groups, std::string_view label, DispatchCost cost = {});
  template <typename Push>
  void dispatch(const Kernel& kernel, std::initializer_list<const Buffer*> buffers, const Push& push,
                std::array<uint32_t, 3> groups, std::string_view label, DispatchCost cost = {}) {
    dispatch(kernel, buffers, &push, sizeof(Push), groups, label, cost);
  }
  // Copies `bytes` from the start of `from` to the start of `to`, ordered after every earlier command of
  // the queue that used `to` and before every later dispatch. Host writes to `from` before the submit are
  // visible to it (vkQueueSubmit makes them so).
  void copy(const Buffer& from, const Buffer& to, uint64_t bytes);
  void end();

  vk::CommandBuffer command_buffer() const { return command_buffer_; }
  const std::string& name() const { return name_; }
  const std::vector<std::string>& labels() const { return labels_; }
  const std::vector<DispatchCost>& costs() const { return costs_; }
  bool timestamps() const { return query_pool_ != vk::QueryPool{}; }
  // Milliseconds per dispatch of the last execution, in recording order; needs timestamps.
  std::vector<double> dispatch_times_ms() const;
  // Device time in ns of the start and of the end of each dispatch of the last execution (count + 1
  // values), on the device's clock, comparable across sequences of one submit.
  std::vector<double> timestamps_ns() const;

 private:
  vk::DescriptorSet allocate_set(vk::DescriptorSetLayout layout);

  Context& context_;
  std::string name_;
  vk::CommandBuffer command_buffer_;
  std::vector<vk::DescriptorPool> pools_;
  size_t current_pool_ = 0;
  std::vector<std::string> labels_;
  std::vector<DispatchCost> costs_;
  vk::QueryPool query_pool_;
  uint32_t query_capacity_ = 0;
  bool recording_ = false;
};

}  // namespace vkformer
