#pragma once
// The Vulkan devices vkformer can run on, for choosing one (TranslatorOptions::device).
#include <cstdint>
#include <string>
#include <vector>

#include "vkformer/export.hpp"

namespace vkformer {

struct DeviceDescription {
  uint32_t index = 0;       // what TranslatorOptions::device and VKFORMER_DEVICE take, as a string
  std::string name;         // "NVIDIA H200", "llvmpipe (LLVM 15.0.6, 256 bits)"
  std::string type;         // "discrete", "integrated", "virtual", "cpu" or "other"
  std::string vendor;       // "NVIDIA", "AMD", "Intel", "Mesa", ..., else the vendor id in hex
  uint32_t vendor_id = 0, device_id = 0;
  std::string driver;       // the driver's name; empty where the device does not report it
  std::string api_version;  // the Vulkan version the device supports, "1.3.230"
  uint64_t device_local_bytes = 0;  // its device-local heaps together
  bool unified_memory = false;      // a CPU driver or integrated GPU: device memory is system memory
};

// Lists the devices without opening one. Throws Error when there is no Vulkan loader or driver.
VKFORMER_API std::vector<DeviceDescription> devices();

}  // namespace vkformer
