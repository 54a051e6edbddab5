#include <cstdlib>

#include "test_context.hpp"
#include "vkformer/buffer.hpp"
#include "vkformer/error.hpp"

using namespace vkformer;

TEST_CASE("device list describes lavapipe-like devices fully", "[runtime]") {
  Instance instance(true);
  const auto devices = describe_devices(instance.handle());
  REQUIRE(!devices.empty());
  for (const auto& device : devices) {
    CHECK(!device.name.empty());
    CHECK(device.subgroup_size >= 1);
    CHECK(device.max_storage_buffer_range > 0);
    CHECK(!device.heaps.empty());
  }
}

TEST_CASE("device choice by index, name and preference", "[runtime]") {
  std::vector<DeviceInfo> devices(3);
  devices[0] = {.index = 0, .name = "llvmpipe (LLVM 15)", .type = vk::PhysicalDeviceType::eCpu};
  devices[1] = {.index = 1, .name = "Intel UHD", .type = vk::PhysicalDeviceType::eIntegratedGpu};
  devices[2] = {.index = 2, .name = "NVIDIA H100", .type = vk::PhysicalDeviceType::eDiscreteGpu};
  CHECK(choose_device(devices, "") == 2);
  CHECK(choose_device(devices, "0") == 0);
  CHECK(choose_device(devices, "uhd") == 1);
  CHECK_THROWS_AS(choose_device(devices, "7"), Error);
  CHECK_THROWS_AS(choose_device(devices, "radeon"), Error);
  CHECK_THROWS_WITH(choose_device({}, ""), Catch::Contains("mesa-vulkan-drivers"));
}

TEST_CASE("buffers round-trip and refuse what the device cannot hold", "[runtime]") {
  Context& context = testing::context_for();
  Buffer buffer(context, 1024, "round trip");
  std::vector<float> values(256);
  for (size_t i = 0; i < values.size(); ++i) values[i] = float(i) * 0.5f;
  buffer.upload(std::span<const float>(values));
  CHECK(buffer.download<float>(256) == values);
  CHECK_THROWS_AS(buffer.download<float>(257), Error);
  const uint64_t too_big = context.info().max_storage_buffer_range + 1;
  CHECK_THROWS_WITH(Buffer(context, too_big, "huge"), Catch::Contains("per storage buffer"));
  testing::require_no_validation_messages(context);
}

TEST_CASE("unknown tuning names are refused with the list of names", "[runtime]") {
  CHECK_THROWS_WITH(Context(ContextOptions{.tuning = "nope"}), Catch::Contains("generic"));
}
