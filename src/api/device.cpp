#include "vkformer/device.hpp"

#include "guard.hpp"
#include "vkformer/context.hpp"
#include "vkformer/device_info.hpp"

namespace vkformer {

std::vector<DeviceDescription> devices() {
  return guarded([] {
    std::unique_lock lock(instance_setup_mutex());
    Instance instance;
    lock.unlock();
    std::vector<DeviceDescription> out;
    for (const auto& info : describe_devices(instance.handle())) {
      DeviceDescription device{.index = info.index, .name = info.name, .type = info.type_name(),
                               .vendor = info.vendor_name(), .vendor_id = info.vendor_id,
                               .device_id = info.device_id, .driver = info.driver_name,
                               .api_version = info.api_version_string(), .unified_memory = info.unified_memory};
      for (const auto& heap : info.heaps) {
        if (heap.device_local) device.device_local_bytes += heap.size;
      }
      out.push_back(std::move(device));
    }
    return out;
  });
}

}  // namespace vkformer
