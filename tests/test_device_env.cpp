// Device choice from VKFORMER_DEVICE: a bad value is one clear error naming the variable.
#include <stdlib.h>

#include <catch2/catch.hpp>

#include "vkformer/context.hpp"
#include "vkformer/device_info.hpp"

using namespace vkformer;

namespace {
// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { setenv(name, value, 1); }
  ~ScopedEnv() { unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};
}  // namespace

TEST_CASE("VKFORMER_DEVICE out of range names the variable", "[runtime]") {
  const std::vector<DeviceInfo> devices(2);
  for (const char* value : {"2", "4294967296", "99999999999999999999"}) {
    INFO(value);
    const ScopedEnv env("VKFORMER_DEVICE", value);
    CHECK_THROWS_WITH(choose_device(devices, ""),
                      Catch::Contains(std::string("VKFORMER_DEVICE=") + value) && Catch::Contains("no such device"));
  }
  const ScopedEnv env("VKFORMER_DEVICE", "1");
  CHECK(choose_device(devices, "") == 1);
}

TEST_CASE("cpu_threads sets LP_NUM_THREADS only while its Context opens the device", "[runtime]") {
  unsetenv("LP_NUM_THREADS");
  {
    const Context context(ContextOptions{.validation = true, .cpu_threads = 0});
    CHECK(std::getenv("LP_NUM_THREADS") == nullptr);
    CHECK(context.validation_messages() == 0);
  }
  const ScopedEnv env("LP_NUM_THREADS", "3");
  const Context context(ContextOptions{.validation = true, .cpu_threads = 1});
  REQUIRE(std::getenv("LP_NUM_THREADS") != nullptr);
  CHECK(std::string(std::getenv("LP_NUM_THREADS")) == "3");
}
