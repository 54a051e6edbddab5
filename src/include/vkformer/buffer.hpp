#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <vulkan/vulkan.hpp>

namespace vkformer {

class Context;

// The memory types a buffer may use, best first (Buffer tries them in order, so a full heap falls back
// to the next). Mappable buffers need host-visible coherent memory, host-cached first on discrete GPUs
// (read back by the host). Other buffers: device-local first, then any. Within a preference, the heap
// with the most `heap_room` (bytes left, by budget where known) first: on an APU the big system heap
// rather than a small device-local carve-out, on a GPU its memory rather than a 256 MiB BAR window.
std::vector<uint32_t> memory_type_candidates(const vk::PhysicalDeviceMemoryProperties& memory, uint32_t allowed,
                                             bool mappable, bool unified, const std::vector<uint64_t>& heap_room);

// What a buffer holds, for its vec4 texel view: f16 buffers (weights under --precision f16) are read only
// through that view, which converts to f32 as it loads. bf16, i8 and i16 hold weight matrices and tables
// as CTranslate2 stores them; i8 and i16 come with f32 scales (see MatmulShape::b_scale, RowBlocks::scales):
// w = q / scale, one scale per row for i8, one per tensor for i16.
enum class Element { f32, f16, bf16, i8, i16 };

constexpr uint32_t element_bytes(Element e) {
  return e == Element::f32 ? 4 : e == Element::i8 ? 1 : 2;
}

// Elements stored as integers (raw bits for bf16), widened by the shaders that read them (Buffer::uint_view).
constexpr bool integer_element(Element e) { return e == Element::bf16 || e == Element::i8 || e == Element::i16; }

const char* element_name(Element e);

// How a buffer is used: storage buffers are bound to shaders and so held to maxStorageBufferRange;
// transfer buffers (staging copies) are only copied from and to, and only maxMemoryAllocationSize applies.
enum class Usage { storage, transfer };

// A storage buffer. On unified-memory devices (CPU drivers, integrated GPUs) it is host-visible and
// written directly; elsewhere uploads and downloads go through a staging buffer.
// `host_visible` forces a host-visible buffer (small per-step inputs and outputs read every step).
class Buffer {
 public:
  Buffer() = default;
  Buffer(Context& context, uint64_t bytes, const std::string& name, bool host_visible = false,
         Element element = Element::f32, Usage usage = Usage::storage);
  ~Buffer();
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  vk::Buffer handle() const { return buffer_; }
  uint64_t bytes() const { return bytes_; }
  Element element() const { return element_; }
  const std::string& name() const { return name_; }
  bool mapped() const { return mapped_ != nullptr; }
  // Host pointer of a mapped buffer (host_visible or unified memory), written in place between submits.
  void* mapped_pointer() const { return mapped_; }
  // The whole buffer as a uniform texel buffer of vec4 (R32G32B32A32_SFLOAT, or R16G16B16A16_SFLOAT for
  // f16), made on first use, texel i = elements 4i..4i+3 (storage buffers are allocated in whole 16-byte
  // texels where the storage range allows, so the last elements are inside the view too); null for
  // bf16, i8 and i16 buffers and when the buffer has more texels than the device allows. CPU drivers
  // gather texel fetches as vectors but turn every storage-buffer load into a per-lane loop.
  vk::BufferView vec4_view() const;
  // Elements the vec4 view covers (whole texels: all of them unless the storage range left no room to
  // round the allocation up); 0 without a view.
  uint64_t vec4_view_elements() const;
  // The raw elements of an f16, bf16, i8 or i16 buffer as a uniform texel buffer of 32-bit words
  // (R32G32B32A32_UINT, R32G32_UINT for i8), texel i = elements 8i..8i+7, for shaders that widen them (a
  // `utextureBuffer`): one fetch of 8 elements, where CPU drivers pay per fetch. Null for f32 buffers,
  // where the device lacks the format for uniform texel buffers, or past maxTexelBufferElements; shaders
  // then read the elements as uint words of the storage buffer.
  vk::BufferView uint_view() const;

  void upload(const void* data, uint64_t bytes, uint64_t offset = 0);
  void download(void* data, uint64_t bytes, uint64_t offset = 0) const;
  void fill_zero();

  template <typename T>
  void upload(std::span<const T> values, uint64_t first = 0) {
    upload(values.data(), values.size_bytes(), first * sizeof(T));
  }
  template <typename T>
  std::vector<T> download(uint64_t count, uint64_t first = 0) const {
    std::vector<T> values(count);
    download(values.data(), count * sizeof(T), first * sizeof(T));
    return values;
  }

 private:
  void release();
  void copy(vk::Buffer from, vk::Buffer to, uint64_t bytes, uint64_t src_offset, uint64_t dst_offset) const;

  Context* context_ = nullptr;
  vk::Buffer buffer_;
  vk::DeviceMemory memory_;
  uint64_t bytes_ = 0;
  void* mapped_ = nullptr;
  uint64_t allocated_ = 0;  // bytes_ rounded up to whole 16-byte texels where the storage range allows
  mutable vk::BufferView vec4_view_;
  mutable vk::BufferView uint_view_;
  Element element_ = Element::f32;
  std::string name_;
};

}  // namespace vkformer
