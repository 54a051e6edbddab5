#include <cmath>
#include <cstdlib>

#include "test_context.hpp"
#include "vkformer/buffer.hpp"
#include "vkformer/error.hpp"
#include "vkformer/half.hpp"

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

TEST_CASE("f32 to f16 rounds to nearest even and round-trips every half", "[runtime]") {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float value = half_to_float(uint16_t(h));
    if (std::isnan(value)) {
      CHECK(std::isnan(half_to_float(float_to_half(value))));
    } else {
      REQUIRE(float_to_half(value) == h);
    }
  }
  CHECK(float_to_half(1.0f + 1.0f / 2048) == 0x3c00);         // tie between 1 and 1+2^-10: even (1)
  CHECK(float_to_half(1.0f + 3.0f / 2048) == 0x3c02);         // tie: even (1+2^-9)
  CHECK(float_to_half(1.0f + 1.0f / 2048 + 1e-7f) == 0x3c01);  // above the tie
  CHECK(float_to_half(65504.0f) == 0x7bff);
  CHECK(float_to_half(65519.0f) == 0x7bff);
  CHECK(float_to_half(65520.0f) == 0x7c00);                   // rounds past the largest finite half
  CHECK(float_to_half(-1e9f) == 0xfc00);
  CHECK(float_to_half(std::ldexp(1.0f, -25)) == 0);            // tie between 0 and the smallest subnormal
  CHECK(float_to_half(std::ldexp(1.5f, -25)) == 1);
  CHECK(float_to_half(std::ldexp(1.0f, -26)) == 0);
}
