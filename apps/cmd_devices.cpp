#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "vkformer/context.hpp"
#include "vkformer/tuning.hpp"

namespace vkformer::cli {

static nlohmann::json to_json(const DeviceInfo& d) {
  nlohmann::json heaps = nlohmann::json::array();
  for (const auto& heap : d.heaps) heaps.push_back({{"bytes", heap.size}, {"device_local", heap.device_local}});
  return {{"index", d.index}, {"name", d.name}, {"vendor", d.vendor_name()}, {"vendor_id", d.vendor_id},
          {"device_id", d.device_id}, {"type", d.type_name()}, {"driver", d.driver_name},
          {"driver_info", d.driver_info}, {"api_version", d.api_version_string()},
          {"subgroup_size", d.subgroup_size}, {"subgroup_size_range", {d.min_subgroup_size, d.max_subgroup_size}},
          {"shared_memory_bytes", d.shared_memory_bytes},
          {"max_workgroup_invocations", d.max_workgroup_invocations},
          {"max_workgroup_size", {d.max_workgroup_size[0], d.max_workgroup_size[1], d.max_workgroup_size[2]}},
          {"max_storage_buffer_range", d.max_storage_buffer_range}, {"max_allocation_size", d.max_allocation_size},
          {"timestamp_period_ns", d.timestamp_period_ns}, {"timestamp_valid_bits", d.timestamp_valid_bits},
          {"shader_float16", d.shader_float16}, {"storage_buffer_16bit", d.storage_buffer_16bit},
          {"unified_memory", d.unified_memory}, {"memory_heaps", heaps},
          {"default_tuning", choose_tuning(d, "").name}};
}

static std::string mib(uint64_t bytes) { return fmt::format("{} MiB", bytes >> 20); }

void add_devices(CLI::App& app, Run& run) {
  auto* command = app.add_subcommand("devices", "List Vulkan devices and their compute limits");
  static bool json = false;
  command->add_flag("--json", json, "Print JSON");
  command->callback([&run] {
    run = [] {
      Instance instance;
      const auto devices = describe_devices(instance.handle());
      const uint32_t chosen = choose_device(devices, "");
      if (json) {
        nlohmann::json list = nlohmann::json::array();
        for (const auto& d : devices) list.push_back(to_json(d));
        fmt::print("{}\n", nlohmann::json{{"default", chosen}, {"devices", list}}.dump(2));
        return 0;
      }
      for (const auto& d : devices) {
        fmt::print("[{}]{} {} ({} {}, {} {}, Vulkan {})\n", d.index, d.index == chosen ? " *" : "", d.name,
                   d.vendor_name(), d.type_name(), d.driver_name, d.driver_info, d.api_version_string());
        fmt::print("    subgroup {} (range {}-{}), shared memory {} KiB, workgroup <= {} invocations\n",
                   d.subgroup_size, d.min_subgroup_size, d.max_subgroup_size, d.shared_memory_bytes / 1024,
                   d.max_workgroup_invocations);
        fmt::print("    storage buffer <= {}, allocation <= {}, fp16 {}, 16-bit storage {}, timestamps {} bits\n",
                   mib(d.max_storage_buffer_range), mib(d.max_allocation_size), d.shader_float16 ? "yes" : "no",
                   d.storage_buffer_16bit ? "yes" : "no", d.timestamp_valid_bits);
        std::string heaps;
        for (const auto& heap : d.heaps) heaps += fmt::format(" {}{}", mib(heap.size), heap.device_local ? " (device)" : "");
        fmt::print("    memory heaps:{}; tuning '{}'\n", heaps, choose_tuning(d, "").name);
      }
      fmt::print("* = chosen by default (override with --device or VKFORMER_DEVICE)\n");
      return 0;
    };
  });
}

}  // namespace vkformer::cli
