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
                uint32_t push_bytes, std::array<uint32_t, 3> groups, std::string_view label);
  template <typename Push>
  void dispatch(const Kernel& kernel, std::initializer_list<const Buffer*> buffers, const Push& push,
                std::array<uint32_t, 3> groups, std::string_view label) {
    dispatch(kernel, buffers, &push, sizeof(Push), groups, label);
  }
  void end();

  vk::CommandBuffer command_buffer() const { return command_buffer_; }
  const std::string& name() const { return name_; }
  const std::vector<std::string>& labels() const { return labels_; }
  bool timestamps() const { return query_pool_ != vk::QueryPool{}; }
  // Milliseconds per dispatch of the last execution, in recording order; needs timestamps.
  std::vector<double> dispatch_times_ms() const;

 private:
  vk::DescriptorSet allocate_set(vk::DescriptorSetLayout layout);

  Context& context_;
  std::string name_;
  vk::CommandBuffer command_buffer_;
  std::vector<vk::DescriptorPool> pools_;
  size_t current_pool_ = 0;
  std::vector<std::string> labels_;
  vk::QueryPool query_pool_;
  uint32_t query_capacity_ = 0;
  bool recording_ = false;
};

}  // namespace vkformer
