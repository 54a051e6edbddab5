#include "vkformer/sequence.hpp"

#include <fmt/format.h>

#include "vkformer/context.hpp"
#include "vkformer/error.hpp"

namespace vkformer {

static constexpr uint32_t kSetsPerPool = 64;
static constexpr uint32_t kMaxTimestamps = 1024;

Sequence::Sequence(Context& context, std::string name, bool timestamps)
    : context_(context), name_(std::move(name)) {
  auto device = context.device();
  command_buffer_ = device.allocateCommandBuffers({.commandPool = context.command_pool(),
                                                   .level = vk::CommandBufferLevel::ePrimary,
                                                   .commandBufferCount = 1})[0];
  context.set_name(command_buffer_, name_);
  if (timestamps && context.info().timestamp_valid_bits > 0) {
    query_capacity_ = kMaxTimestamps;
    query_pool_ = device.createQueryPool({.queryType = vk::QueryType::eTimestamp, .queryCount = query_capacity_});
  }
}

Sequence::~Sequence() {
  auto device = context_.device();
  for (auto pool : pools_) device.destroyDescriptorPool(pool);
  if (query_pool_) device.destroyQueryPool(query_pool_);
  device.freeCommandBuffers(context_.command_pool(), command_buffer_);
}

vk::DescriptorSet Sequence::allocate_set(vk::DescriptorSetLayout layout) {
  auto device = context_.device();
  while (true) {
    if (current_pool_ == pools_.size()) {
      const vk::DescriptorPoolSize sizes[] = {
          {.type = vk::DescriptorType::eStorageBuffer, .descriptorCount = kSetsPerPool * 8},
          {.type = vk::DescriptorType::eUniformTexelBuffer, .descriptorCount = kSetsPerPool * 4}};
      pools_.push_back(device.createDescriptorPool({.maxSets = kSetsPerPool, .poolSizeCount = 2, .pPoolSizes = sizes}));
    }
    vk::DescriptorSet set;
    vk::DescriptorSetAllocateInfo info{.descriptorPool = pools_[current_pool_], .descriptorSetCount = 1,
                                       .pSetLayouts = &layout};
    const auto result = device.allocateDescriptorSets(&info, &set);
    if (result == vk::Result::eSuccess) return set;
    if (result != vk::Result::eErrorOutOfPoolMemory && result != vk::Result::eErrorFragmentedPool) {
      throw Error(fmt::format("cannot allocate a descriptor set for '{}': {}", name_, vk::to_string(result)));
    }
    ++current_pool_;
  }
}

void Sequence::begin() {
  auto device = context_.device();
  for (auto pool : pools_) device.resetDescriptorPool(pool);
  current_pool_ = 0;
  labels_.clear();
  costs_.clear();
  command_buffer_.reset();
  command_buffer_.begin(vk::CommandBufferBeginInfo{});
  if (context_.debug_utils()) command_buffer_.beginDebugUtilsLabelEXT({.pLabelName = name_.c_str()});
  if (query_pool_) {
    command_buffer_.resetQueryPool(query_pool_, 0, query_capacity_);
    command_buffer_.writeTimestamp(vk::PipelineStageFlagBits::eTopOfPipe, query_pool_, 0);
  }
  recording_ = true;
}

void Sequence::dispatch(const Kernel& kernel, std::initializer_list<const Buffer*> buffers, const void* push,
                        uint32_t push_bytes, std::array<uint32_t, 3> groups, std::string_view label,
                        DispatchCost cost) {
  if (!recording_) throw Error(fmt::format("sequence '{}': dispatch outside begin()/end()", name_));
  if (buffers.size() != kernel.spec.bindings || push_bytes != kernel.spec.push_constant_bytes) {
    throw Error(fmt::format("sequence '{}': kernel '{}' takes {} buffers and {} push bytes, got {} and {}", name_,
                            kernel.spec.shader, kernel.spec.bindings, kernel.spec.push_constant_bytes,
                            buffers.size(), push_bytes));
  }
  const auto& limits = context_.info().max_workgroup_count;
  for (int i = 0; i < 3; ++i) {
    if (groups[i] == 0 || groups[i] > limits[i]) {
      throw Error(fmt::format("'{}': {} workgroups in dimension {} (device allows 1..{})", label, groups[i], i,
                              limits[i]));
    }
  }
  const auto set = allocate_set(kernel.set_layout);
  std::vector<vk::DescriptorBufferInfo> infos(buffers.size());
  std::vector<vk::BufferView> views(buffers.size());
  std::vector<vk::WriteDescriptorSet> writes;
  for (uint32_t i = 0; const Buffer* buffer : buffers) {
    vk::WriteDescriptorSet write{.dstSet = set, .dstBinding = i, .descriptorCount = 1};
    if (kernel.spec.texel_bindings & (1u << i)) {
      const bool integer = kernel.spec.uint_texel_bindings & (1u << i);
      views[i] = integer ? buffer->uint_view() : buffer->vec4_view();
      if (!views[i]) views[i] = integer ? context_.placeholder_uint_view() : context_.placeholder_vec4_view();
      write.descriptorType = vk::DescriptorType::eUniformTexelBuffer;
      write.pTexelBufferView = &views[i];
    } else {
      infos[i] = vk::DescriptorBufferInfo{.buffer = buffer->handle(), .offset = 0, .range = VK_WHOLE_SIZE};
      write.descriptorType = vk::DescriptorType::eStorageBuffer;
      write.pBufferInfo = &infos[i];
    }
    writes.push_back(write);
    ++i;
  }
  context_.device().updateDescriptorSets(writes, {});

  const bool labelled = context_.debug_utils();
  std::string label_text(label);
  if (labelled) command_buffer_.beginDebugUtilsLabelEXT({.pLabelName = label_text.c_str()});
  command_buffer_.bindPipeline(vk::PipelineBindPoint::eCompute, kernel.pipeline);
  command_buffer_.bindDescriptorSets(vk::PipelineBindPoint::eCompute, kernel.layout, 0, set, {});
  if (push_bytes) command_buffer_.pushConstants(kernel.layout, vk::ShaderStageFlagBits::eCompute, 0, push_bytes, push);
  command_buffer_.dispatch(groups[0], groups[1], groups[2]);
  if (query_pool_) {
    const uint32_t query = uint32_t(labels_.size()) + 1;
    if (query >= query_capacity_) throw Error(fmt::format("sequence '{}' has too many dispatches to time", name_));
    command_buffer_.writeTimestamp(vk::PipelineStageFlagBits::eBottomOfPipe, query_pool_, query);
  }
  vk::MemoryBarrier barrier{.srcAccessMask = vk::AccessFlagBits::eShaderWrite,
                            .dstAccessMask = vk::AccessFlagBits::eShaderRead | vk::AccessFlagBits::eShaderWrite};
  command_buffer_.pipelineBarrier(vk::PipelineStageFlagBits::eComputeShader,
                                  vk::PipelineStageFlagBits::eComputeShader, {}, barrier, {}, {});
  if (labelled) command_buffer_.endDebugUtilsLabelEXT();
  labels_.push_back(std::move(label_text));
  costs_.push_back(cost);
}

void Sequence::copy(const Buffer& from, const Buffer& to, uint64_t bytes) {
  using Access = vk::AccessFlagBits;
  using Stage = vk::PipelineStageFlagBits;
  vk::MemoryBarrier before{.srcAccessMask = Access::eShaderWrite | Access::eTransferWrite,
                           .dstAccessMask = Access::eTransferWrite};
  command_buffer_.pipelineBarrier(Stage::eComputeShader | Stage::eTransfer, Stage::eTransfer, {}, before, {}, {});
  command_buffer_.copyBuffer(from.handle(), to.handle(), vk::BufferCopy{.srcOffset = 0, .dstOffset = 0, .size = bytes});
  vk::MemoryBarrier after{.srcAccessMask = Access::eTransferWrite, .dstAccessMask = Access::eShaderRead};
  command_buffer_.pipelineBarrier(Stage::eTransfer, Stage::eComputeShader, {}, after, {}, {});
}

void Sequence::end() {
  // Results read by the host after the fence (token ids, downloads) must be visible to it.
  vk::MemoryBarrier to_host{.srcAccessMask = vk::AccessFlagBits::eShaderWrite,
                            .dstAccessMask = vk::AccessFlagBits::eHostRead | vk::AccessFlagBits::eTransferRead};
  command_buffer_.pipelineBarrier(vk::PipelineStageFlagBits::eComputeShader,
                                  vk::PipelineStageFlagBits::eHost | vk::PipelineStageFlagBits::eTransfer, {},
                                  to_host, {}, {});
  if (context_.debug_utils()) command_buffer_.endDebugUtilsLabelEXT();
  command_buffer_.end();
  recording_ = false;
}

std::vector<double> Sequence::timestamps_ns() const {
  if (!query_pool_ || labels_.empty()) return {};
  const uint32_t count = uint32_t(labels_.size()) + 1;
  std::vector<uint64_t> ticks(count);
  const auto result = context_.device().getQueryPoolResults(query_pool_, 0, count, ticks.size() * sizeof(uint64_t),
                                                            ticks.data(), sizeof(uint64_t),
                                                            vk::QueryResultFlagBits::e64 | vk::QueryResultFlagBits::eWait);
  if (result != vk::Result::eSuccess) throw Error(fmt::format("cannot read timestamps of '{}'", name_));
  const auto& info = context_.info();
  const uint64_t mask = info.timestamp_valid_bits >= 64 ? ~0ull : ((1ull << info.timestamp_valid_bits) - 1);
  std::vector<double> times;
  for (uint64_t tick : ticks) times.push_back(double(tick & mask) * info.timestamp_period_ns);
  return times;
}

std::vector<double> Sequence::dispatch_times_ms() const {
  const auto times = timestamps_ns();
  std::vector<double> durations;
  for (size_t i = 1; i < times.size(); ++i) durations.push_back(std::max(0.0, times[i] - times[i - 1]) * 1e-6);
  return durations;
}

}  // namespace vkformer
