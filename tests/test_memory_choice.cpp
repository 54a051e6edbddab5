// Which memory a buffer goes to, on memory layouts of devices this machine does not have (lavapipe has
// one heap and one type). The layouts follow what common drivers report.
#include <catch2/catch.hpp>

#include "vkformer/buffer.hpp"

namespace {

using F = vk::MemoryPropertyFlagBits;
constexpr uint64_t MiB = 1ull << 20, GiB = 1ull << 30;

struct Layout {
  vk::PhysicalDeviceMemoryProperties memory;
  std::vector<uint64_t> room;
  uint32_t heap(uint64_t size, bool local) {
    memory.memoryHeaps[memory.memoryHeapCount] = {.size = size, .flags = local ? vk::MemoryHeapFlagBits::eDeviceLocal
                                                                               : vk::MemoryHeapFlags{}};
    room.push_back(size);
    return memory.memoryHeapCount++;
  }
  uint32_t type(vk::MemoryPropertyFlags flags, uint32_t heap) {
    memory.memoryTypes[memory.memoryTypeCount] = {.propertyFlags = flags, .heapIndex = heap};
    return memory.memoryTypeCount++;
  }
  std::vector<uint32_t> candidates(bool mappable, bool unified, uint32_t allowed = ~0u) const {
    return vkformer::memory_type_candidates(memory, allowed, mappable, unified, room);
  }
};

}  // namespace

TEST_CASE("discrete GPU: weights in its own memory, system memory when full, readback host-cached", "[memory]") {
  Layout l;  // a resizable-BAR GPU: all its memory is mappable too
  const uint32_t vram = l.heap(24 * GiB, true), ram = l.heap(64 * GiB, false);
  const uint32_t local = l.type(F::eDeviceLocal, vram);
  const uint32_t host = l.type(F::eHostVisible | F::eHostCoherent, ram);
  const uint32_t cached = l.type(F::eHostVisible | F::eHostCoherent | F::eHostCached, ram);
  const uint32_t bar = l.type(F::eDeviceLocal | F::eHostVisible | F::eHostCoherent, vram);
  REQUIRE(l.candidates(false, false) == std::vector<uint32_t>{local, bar, host, cached});
  REQUIRE(l.candidates(true, false) == std::vector<uint32_t>{cached, host, bar});
  // Only the types the buffer allows.
  REQUIRE(l.candidates(false, false, (1u << host) | (1u << cached)) == std::vector<uint32_t>{host, cached});
}

TEST_CASE("APU: the big system heap before a small device-local carve-out", "[memory]") {
  Layout l;
  const uint32_t carve_out = l.heap(512 * MiB, true), ram = l.heap(16 * GiB, false);
  const uint32_t local = l.type(F::eDeviceLocal, carve_out);
  const uint32_t local_mapped = l.type(F::eDeviceLocal | F::eHostVisible | F::eHostCoherent, carve_out);
  const uint32_t host = l.type(F::eHostVisible | F::eHostCoherent | F::eHostCached, ram);
  REQUIRE(l.candidates(true, true) == std::vector<uint32_t>{host, local_mapped});
  REQUIRE(l.candidates(false, false) == std::vector<uint32_t>{local, local_mapped, host});
}

TEST_CASE("a heap's budget, not its size, orders heaps of the same kind", "[memory]") {
  Layout l;
  const uint32_t big = l.heap(8 * GiB, true), small = l.heap(2 * GiB, true);
  const uint32_t on_big = l.type(F::eDeviceLocal, big), on_small = l.type(F::eDeviceLocal, small);
  REQUIRE(l.candidates(false, false) == std::vector<uint32_t>{on_big, on_small});
  l.room[big] = 100 * MiB;  // another program holds most of it
  REQUIRE(l.candidates(false, false) == std::vector<uint32_t>{on_small, on_big});
}

TEST_CASE("no host-visible coherent type: nothing to map", "[memory]") {
  Layout l;
  const uint32_t vram = l.heap(8 * GiB, true);
  l.type(F::eDeviceLocal, vram);
  l.type(F::eDeviceLocal | F::eHostVisible, vram);  // not coherent
  REQUIRE(l.candidates(true, false).empty());
}
