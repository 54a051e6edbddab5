#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "io.hpp"
#include "vkformer/context.hpp"
#include "vkformer/error.hpp"
#include "vkformer/ops/layer_norm.hpp"
#include "vkformer/tuning.hpp"
#include "vkformer/version.hpp"

namespace vkformer::cli {

namespace {
// The tuning a Context would take on the device, why it differs from the usual one, or why none fits.
struct TuningReport {
  std::string name, fallback, error;
};

TuningReport tuning_report(const DeviceInfo& d) {
  try {
    const auto choice = choose_tuning(d, "");
    return {choice.tuning->name, choice.fallback, ""};
  } catch (const Error& e) {
    return {"", "", e.what()};
  }
}

std::string api_version(uint32_t version) {
  return fmt::format("{}.{}.{}", VK_API_VERSION_MAJOR(version), VK_API_VERSION_MINOR(version),
                     VK_API_VERSION_PATCH(version));
}

// The cooperative-matrix shapes, and whether matmul_coopmat can run (and why not).
nlohmann::json cooperative_json(const DeviceInfo& d) {
  nlohmann::json shapes = nlohmann::json::array();
  for (const auto& shape : d.cooperative_matrix_shapes) shapes.push_back(shape.describe());
  return {{"nv", d.cooperative_matrix_nv}, {"khr", d.cooperative_matrix_khr},
          {"vulkan_memory_model", d.vulkan_memory_model}, {"shapes", shapes},
          {"matmul_coopmat_misfit", cooperative_matrix_misfit(d)}};
}

nlohmann::json to_json(const DeviceInfo& d) {
  nlohmann::json heaps = nlohmann::json::array();
  for (const auto& heap : d.heaps) {
    heaps.push_back({{"bytes", heap.size}, {"device_local", heap.device_local}, {"host_visible", heap.host_visible},
                     {"budget", heap.budget}, {"usage", heap.usage}});
  }
  const auto tuning = tuning_report(d);
  return {{"index", d.index}, {"name", d.name}, {"vendor", d.vendor_name()}, {"vendor_id", d.vendor_id},
          {"device_id", d.device_id}, {"type", d.type_name()}, {"driver", d.driver_name},
          {"driver_info", d.driver_info}, {"api_version", d.api_version_string()},
          {"usable_api_version", api_version(d.usable_api_version)},
          {"subgroup_size", d.subgroup_size}, {"subgroup_size_range", {d.min_subgroup_size, d.max_subgroup_size}},
          {"subgroup_arithmetic", d.subgroup_arithmetic}, {"layer_norm_shader", layer_norm_shader(d)},
          {"shared_memory_bytes", d.shared_memory_bytes},
          {"max_workgroup_invocations", d.max_workgroup_invocations},
          {"max_workgroup_size", {d.max_workgroup_size[0], d.max_workgroup_size[1], d.max_workgroup_size[2]}},
          {"max_storage_buffers_per_stage", d.max_storage_buffers_per_stage},
          {"max_sampled_images_per_stage", d.max_sampled_images_per_stage},
          {"max_resources_per_stage", d.max_resources_per_stage},
          {"max_storage_buffer_range", d.max_storage_buffer_range}, {"max_allocation_size", d.max_allocation_size},
          {"timestamp_period_ns", d.timestamp_period_ns}, {"timestamp_valid_bits", d.timestamp_valid_bits},
          {"shader_float16", d.shader_float16}, {"storage_buffer_16bit", d.storage_buffer_16bit},
          {"portability_subset", d.portability_subset}, {"unified_memory", d.unified_memory},
          {"resizable_bar", d.resizable_bar}, {"memory_budget", d.memory_budget}, {"memory_heaps", heaps},
          {"cooperative_matrix", cooperative_json(d)},
          {"default_tuning", tuning.name}, {"tuning_fallback", tuning.fallback}, {"tuning_error", tuning.error}};
}

std::string mib(uint64_t bytes) { return fmt::format("{} MiB", bytes >> 20); }

std::string yes_no(bool value) { return value ? "yes" : "no"; }

void print_memory(const DeviceInfo& d) {
  out("    memory: unified {}, resizable BAR {}, budgets {}\n", yes_no(d.unified_memory), yes_no(d.resizable_bar),
      d.memory_budget ? "reported (VK_EXT_memory_budget)" : "not reported");
  for (size_t i = 0; i < d.heaps.size(); ++i) {
    const auto& heap = d.heaps[i];
    std::string line = fmt::format("      heap {}: {}{}{}", i, mib(heap.size), heap.device_local ? ", device-local" : "",
                                   heap.host_visible ? ", host-visible" : "");
    if (d.memory_budget) line += fmt::format(", budget {}, in use {}", mib(heap.budget), mib(heap.usage));
    out("{}\n", line);
  }
}

void print_cooperative_matrix(const DeviceInfo& d) {
  const auto misfit = cooperative_matrix_misfit(d);
  out("    cooperative matrices: VK_NV_cooperative_matrix {}, VK_KHR_cooperative_matrix {} (not used yet); {}\n",
      yes_no(d.cooperative_matrix_nv), yes_no(d.cooperative_matrix_khr),
      misfit.empty() ? "matmul_coopmat runs under --tuning nvidia-coopmat" : "matmul_coopmat cannot run: " + misfit);
  for (const auto& shape : d.cooperative_matrix_shapes) out("      {}\n", shape.describe());
}

void print_tuning(const DeviceInfo& d) {
  const auto tuning = tuning_report(d);
  if (!tuning.error.empty()) {
    out("    cannot run vkformer: {}\n", tuning.error);
  } else if (!tuning.fallback.empty()) {
    out("    tuning '{}' (changed: {})\n", tuning.name, tuning.fallback);
  } else {
    out("    tuning '{}' (fits the device's limits)\n", tuning.name);
  }
}

void print_device(const DeviceInfo& d, bool chosen) {
  out("[{}]{} {} ({} {}, {} {}, Vulkan {}, used as {})\n", d.index, chosen ? " *" : "", d.name, d.vendor_name(),
      d.type_name(), d.driver_name, d.driver_info, d.api_version_string(), api_version(d.usable_api_version));
  out("    subgroup {} (range {}-{}), subgroup arithmetic {} (layer_norm shader '{}')\n", d.subgroup_size,
      d.min_subgroup_size, d.max_subgroup_size, yes_no(d.subgroup_arithmetic), layer_norm_shader(d));
  out("    workgroup <= {} invocations ({}x{}x{}), shared memory {} KiB\n", d.max_workgroup_invocations,
      d.max_workgroup_size[0], d.max_workgroup_size[1], d.max_workgroup_size[2], d.shared_memory_bytes / 1024);
  out("    per shader stage: {} storage buffers, {} sampled images (texel buffers), {} resources\n",
      d.max_storage_buffers_per_stage, d.max_sampled_images_per_stage, d.max_resources_per_stage);
  out("    storage buffer <= {}, allocation <= {}, fp16 {} (used by cooperative matrices only), 16-bit storage {} "
      "(not used), timestamps {} bits, portability subset {}\n",
      mib(d.max_storage_buffer_range), mib(d.max_allocation_size), yes_no(d.shader_float16),
      yes_no(d.storage_buffer_16bit), d.timestamp_valid_bits, yes_no(d.portability_subset));
  print_memory(d);
  print_cooperative_matrix(d);
  print_tuning(d);
}
}  // namespace

void add_devices(CLI::App& app, Run& run) {
  auto* command = app.add_subcommand("devices", "List Vulkan devices, their compute limits and memory, and the tuning each gets");
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
        out("{}\n", nlohmann::json{{"version", version()}, {"default", chosen}, {"devices", list}}.dump(2));
        return 0;
      }
      for (const auto& d : devices) print_device(d, d.index == chosen);
      out("* = chosen by default (override with --device or VKFORMER_DEVICE)\n");
      return 0;
    };
  });
}

}  // namespace vkformer::cli
