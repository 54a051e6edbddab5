#include "vkformer/buffer.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

#include "vkformer/context.hpp"
#include "vkformer/error.hpp"

namespace vkformer {

// VKFORMER_DISCRETE_MEMORY=1 treats a unified-memory device (lavapipe) as a discrete GPU: buffers are not
// mapped, and uploads, downloads and the decoding state go through staging copies, so the paths that
// real GPUs take are tested on CPU drivers too.
static bool unified_memory(const DeviceInfo& info) {
  static const bool forced_discrete = [] {
    const char* value = std::getenv("VKFORMER_DISCRETE_MEMORY");
    return value && *value && std::string_view(value) != "0";
  }();
  return info.unified_memory && !forced_discrete;
}

// Bytes each heap can still take: its budget less its usage where VK_EXT_memory_budget says, else its size.
static std::vector<uint64_t> heap_room(const Context& context) {
  const auto& memory = context.memory_properties();
  std::vector<uint64_t> room(memory.memoryHeapCount);
  for (uint32_t h = 0; h < memory.memoryHeapCount; ++h) room[h] = memory.memoryHeaps[h].size;
  if (!context.info().memory_budget) return room;
  vk::PhysicalDeviceMemoryBudgetPropertiesEXT budget;
  vk::PhysicalDeviceMemoryProperties2 properties{.pNext = &budget};
  context.physical().getMemoryProperties2(&properties);
  for (uint32_t h = 0; h < memory.memoryHeapCount; ++h) {
    room[h] = budget.heapBudget[h] > budget.heapUsage[h] ? budget.heapBudget[h] - budget.heapUsage[h] : 0;
  }
  return room;
}

std::vector<uint32_t> memory_type_candidates(const vk::PhysicalDeviceMemoryProperties& memory, uint32_t allowed,
                                             bool mappable, bool unified, const std::vector<uint64_t>& heap_room) {
  using F = vk::MemoryPropertyFlagBits;
  // Lower is better; -1: unusable.
  const auto rank = [&](vk::MemoryPropertyFlags flags) -> int {
    const bool local = bool(flags & F::eDeviceLocal), visible = bool(flags & F::eHostVisible);
    const bool coherent = bool(flags & F::eHostCoherent), cached = bool(flags & F::eHostCached);
    if (mappable) {
      if (!visible || !coherent) return -1;
      if (unified) return 0;  // all of it is system memory: only the room left matters
      return cached ? 0 : 1;  // the host reads these back: cached reads are fast
    }
    return local ? 0 : 1;  // a GPU's own memory first, system memory when it is full
  };
  std::vector<uint32_t> types;
  for (uint32_t i = 0; i < memory.memoryTypeCount; ++i) {
    if ((allowed & (1u << i)) && rank(memory.memoryTypes[i].propertyFlags) >= 0) types.push_back(i);
  }
  // Within a rank the heap with the most room first: a small carve-out heap (APUs) or a 256 MiB BAR
  // window is not where a model's weights should go first.
  const auto room = [&](uint32_t type) {
    const uint32_t heap = memory.memoryTypes[type].heapIndex;
    return heap < heap_room.size() ? heap_room[heap] : memory.memoryHeaps[heap].size;
  };
  std::stable_sort(types.begin(), types.end(), [&](uint32_t a, uint32_t b) {
    const int ra = rank(memory.memoryTypes[a].propertyFlags), rb = rank(memory.memoryTypes[b].propertyFlags);
    return ra != rb ? ra < rb : room(a) > room(b);
  });
  return types;
}

static double mib(uint64_t bytes) { return double(bytes) / (1024.0 * 1024.0); }

Buffer::Buffer(Context& context, uint64_t bytes, const std::string& name, bool host_visible, Element element,
               Usage usage)
    : context_(&context), bytes_(bytes), element_(element), name_(name) {
  const auto& info = context.info();
  if (bytes == 0) throw Error(fmt::format("buffer '{}' has size 0", name));
  // Real GPUs reject storage buffers past maxStorageBufferRange even where CPU drivers do not: check here.
  const bool storage = usage == Usage::storage;
  if (storage && bytes > info.max_storage_buffer_range) {
    throw Error(fmt::format("buffer '{}' needs {:.1f} MiB but '{}' allows at most {:.1f} MiB per storage buffer",
                            name, mib(bytes), info.name, mib(info.max_storage_buffer_range)));
  }
  if (info.max_allocation_size && bytes > info.max_allocation_size) {
    throw Error(fmt::format("buffer '{}' needs {:.1f} MiB but '{}' allows at most {:.1f} MiB per allocation", name,
                            mib(bytes), info.name, mib(info.max_allocation_size)));
  }
  auto device = context.device();
  using U = vk::BufferUsageFlagBits;
  const vk::BufferUsageFlags transfer = U::eTransferSrc | U::eTransferDst;
  // Whole texels: views then cover the last elements, and shaders may read the last uint word whole.
  allocated_ = storage && (bytes + 15) / 16 * 16 <= info.max_storage_buffer_range ? (bytes + 15) / 16 * 16 : bytes;
  buffer_ = device.createBuffer({.size = allocated_,
                                 .usage = storage ? transfer | U::eStorageBuffer | U::eUniformTexelBuffer : transfer,
                                 .sharingMode = vk::SharingMode::eExclusive});
  const auto requirements = device.getBufferMemoryRequirements(buffer_);
  const auto& memory = context.memory_properties();
  const bool mappable = host_visible || unified_memory(info);
  const auto candidates = memory_type_candidates(memory, requirements.memoryTypeBits, mappable, unified_memory(info),
                                                 heap_room(context));
  if (candidates.empty()) {
    device.destroyBuffer(buffer_);
    throw Error(fmt::format("no suitable memory type for buffer '{}' on '{}'", name, info.name));
  }
  // A full heap is not the end: the next candidate (a bigger heap, or system memory for a GPU) still works.
  for (uint32_t type : candidates) {
    try {
      memory_ = device.allocateMemory({.allocationSize = requirements.size, .memoryTypeIndex = type});
      break;
    } catch (const vk::OutOfDeviceMemoryError&) {
    } catch (const vk::OutOfHostMemoryError&) {
    }
  }
  if (!memory_) {
    device.destroyBuffer(buffer_);
    throw Error(fmt::format("out of device memory: cannot allocate {:.1f} MiB for '{}' on '{}'", mib(bytes), name,
                            info.name));
  }
  device.bindBufferMemory(buffer_, memory_, 0);
  if (mappable) mapped_ = device.mapMemory(memory_, 0, VK_WHOLE_SIZE);
  context.set_name(buffer_, name);
}

Buffer::~Buffer() { release(); }

Buffer::Buffer(Buffer&& other) noexcept { *this = std::move(other); }

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    release();
    context_ = std::exchange(other.context_, nullptr);
    buffer_ = std::exchange(other.buffer_, {});
    memory_ = std::exchange(other.memory_, {});
    bytes_ = std::exchange(other.bytes_, 0);
    mapped_ = std::exchange(other.mapped_, nullptr);
    allocated_ = std::exchange(other.allocated_, 0);
    vec4_view_ = std::exchange(other.vec4_view_, {});
    uint_view_ = std::exchange(other.uint_view_, {});
    element_ = other.element_;
    name_ = std::move(other.name_);
  }
  return *this;
}

void Buffer::release() {
  if (!context_) return;
  auto device = context_->device();
  if (vec4_view_) device.destroyBufferView(vec4_view_);
  if (uint_view_) device.destroyBufferView(uint_view_);
  if (mapped_) device.unmapMemory(memory_);
  if (buffer_) device.destroyBuffer(buffer_);
  if (memory_) device.freeMemory(memory_);
  context_ = nullptr;
  mapped_ = nullptr;
  vec4_view_ = nullptr;
  uint_view_ = nullptr;
}

const char* element_name(Element e) {
  switch (e) {
    case Element::f32: return "f32";
    case Element::f16: return "f16";
    case Element::bf16: return "bf16";
    case Element::i8: return "i8";
    case Element::i16: return "i16";
  }
  return "?";
}

// A view of the whole buffer in texels of `texel_bytes`, or null where the device cannot read `format`
// from uniform texel buffers or the buffer has more texels than it allows.
static vk::BufferView make_view(Context& context, vk::Buffer buffer, uint64_t allocated, vk::Format format,
                                uint64_t texel_bytes, const std::string& name) {
  const uint64_t texels = allocated / texel_bytes;
  const bool readable = bool(context.physical().getFormatProperties(format).bufferFeatures &
                             vk::FormatFeatureFlagBits::eUniformTexelBuffer);
  if (!readable || texels == 0 || texels > context.info().max_texel_buffer_elements) return {};
  vk::BufferView view = context.device().createBufferView({.buffer = buffer, .format = format, .offset = 0,
                                                           .range = texels * texel_bytes});
  context.set_name(view, name);
  return view;
}

// Bytes of one vec4 texel of an f32 or f16 buffer.
static uint64_t vec4_texel_bytes(Element element) { return element == Element::f16 ? 8 : 16; }

vk::BufferView Buffer::vec4_view() const {
  if (vec4_view_ || integer_element(element_)) return vec4_view_;
  vec4_view_ = make_view(*context_, buffer_, allocated_, element_ == Element::f16 ? vk::Format::eR16G16B16A16Sfloat
                                                                                 : vk::Format::eR32G32B32A32Sfloat,
                         vec4_texel_bytes(element_), name_ + ".vec4");
  return vec4_view_;
}

uint64_t Buffer::vec4_view_elements() const {
  return vec4_view() ? allocated_ / vec4_texel_bytes(element_) * 4 : 0;
}

vk::BufferView Buffer::uint_view() const {
  if (uint_view_ || element_ == Element::f32) return uint_view_;
  const bool i8 = element_ == Element::i8;
  uint_view_ = make_view(*context_, buffer_, allocated_, i8 ? vk::Format::eR32G32Uint : vk::Format::eR32G32B32A32Uint,
                         i8 ? 8 : 16, name_ + ".uint");
  return uint_view_;
}

static void check_range(const Buffer& buffer, uint64_t bytes, uint64_t offset) {
  if (offset + bytes > buffer.bytes()) {
    throw Error(fmt::format("access of {} bytes at offset {} is outside buffer '{}' ({} bytes)", bytes, offset,
                            buffer.name(), buffer.bytes()));
  }
}

void Buffer::upload(const void* data, uint64_t bytes, uint64_t offset) {
  check_range(*this, bytes, offset);
  if (bytes == 0) return;
  if (mapped_) {
    std::memcpy(static_cast<char*>(mapped_) + offset, data, bytes);
    return;
  }
  Buffer staging(*context_, bytes, name_ + " (upload)", true, Element::f32, Usage::transfer);
  staging.upload(data, bytes);
  copy(staging.handle(), buffer_, bytes, 0, offset);
}

void Buffer::download(void* data, uint64_t bytes, uint64_t offset) const {
  check_range(*this, bytes, offset);
  if (bytes == 0) return;
  if (mapped_) {
    std::memcpy(data, static_cast<const char*>(mapped_) + offset, bytes);
    return;
  }
  Buffer staging(*context_, bytes, name_ + " (download)", true, Element::f32, Usage::transfer);
  copy(buffer_, staging.handle(), bytes, offset, 0);
  staging.download(data, bytes);
}

void Buffer::fill_zero() {
  if (mapped_) {
    std::memset(mapped_, 0, bytes_);
    return;
  }
  std::vector<char> zeros(bytes_, 0);
  upload(zeros.data(), bytes_);
}

void Buffer::copy(vk::Buffer from, vk::Buffer to, uint64_t bytes, uint64_t src_offset, uint64_t dst_offset) const {
  auto device = context_->device();
  auto command = device.allocateCommandBuffers({.commandPool = context_->command_pool(),
                                                .level = vk::CommandBufferLevel::ePrimary,
                                                .commandBufferCount = 1})[0];
  command.begin({.flags = vk::CommandBufferUsageFlagBits::eOneTimeSubmit});
  // Order the copy after earlier dispatches and make its result visible to later ones and to the host.
  vk::MemoryBarrier before{.srcAccessMask = vk::AccessFlagBits::eShaderWrite | vk::AccessFlagBits::eHostWrite,
                           .dstAccessMask = vk::AccessFlagBits::eTransferRead | vk::AccessFlagBits::eTransferWrite};
  command.pipelineBarrier(vk::PipelineStageFlagBits::eComputeShader | vk::PipelineStageFlagBits::eHost,
                          vk::PipelineStageFlagBits::eTransfer, {}, before, {}, {});
  command.copyBuffer(from, to, vk::BufferCopy{.srcOffset = src_offset, .dstOffset = dst_offset, .size = bytes});
  vk::MemoryBarrier after{.srcAccessMask = vk::AccessFlagBits::eTransferWrite,
                          .dstAccessMask = vk::AccessFlagBits::eShaderRead | vk::AccessFlagBits::eShaderWrite |
                                           vk::AccessFlagBits::eHostRead};
  command.pipelineBarrier(vk::PipelineStageFlagBits::eTransfer,
                          vk::PipelineStageFlagBits::eComputeShader | vk::PipelineStageFlagBits::eHost, {}, after,
                          {}, {});
  command.end();
  context_->submit_and_wait({command});
  device.freeCommandBuffers(context_->command_pool(), command);
}

}  // namespace vkformer
