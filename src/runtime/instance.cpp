#include <algorithm>
#include <cstdlib>
#include <string_view>

#include <fmt/format.h>

#include "vkformer/context.hpp"
#include "vkformer/error.hpp"

VULKAN_HPP_DEFAULT_DISPATCH_LOADER_DYNAMIC_STORAGE

namespace vkformer {

static constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";

using MessageType = vk::DebugUtilsMessageTypeFlagBitsEXT;
using Severity = vk::DebugUtilsMessageSeverityFlagBitsEXT;

static std::string_view type_name(VkDebugUtilsMessageTypeFlagsEXT type) {
  if (type & VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT) return "validation";
  if (type & VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT) return "performance";
  return "general";
}

struct InstanceCallbacks {
  static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT,
                                                   VkDebugUtilsMessageTypeFlagsEXT type,
                                                   const VkDebugUtilsMessengerCallbackDataEXT* data, void* user) {
    // Only warnings and errors are subscribed to (messenger_info), so every call counts.
    static_cast<Instance*>(user)->messages_.fetch_add(1);
    fmt::print(stderr, "vulkan {}: {}\n", type_name(type), data->pMessage ? data->pMessage : "(no message)");
    return VK_FALSE;
  }

  static vk::DebugUtilsMessengerCreateInfoEXT messenger_info(Instance* instance, const void* next = nullptr) {
    return {.pNext = next,
            .messageSeverity = Severity::eWarning | Severity::eError,
            .messageType = MessageType::eGeneral | MessageType::eValidation | MessageType::ePerformance,
            .pfnUserCallback = &on_message,
            .pUserData = instance};
  }
};

static bool env_flag(const char* name) {
  const char* value = std::getenv(name);
  return value && *value && std::string_view(value) != "0";
}

static void load_vulkan_loader() {
  static vk::DynamicLoader* loader = [] {
    try {
      return new vk::DynamicLoader();
    } catch (const std::exception&) {
      throw Error(
          "the Vulkan loader (libvulkan.so.1) is not installed: apt-get install libvulkan1 mesa-vulkan-drivers");
    }
  }();
  VULKAN_HPP_DEFAULT_DISPATCHER.init(loader->getProcAddress<PFN_vkGetInstanceProcAddr>("vkGetInstanceProcAddr"));
}

static bool contains(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

InstanceExtensions choose_instance_extensions(const std::vector<std::string>& offered) {
  InstanceExtensions chosen;
  for (const char* name : {VK_EXT_DEBUG_UTILS_EXTENSION_NAME, VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME}) {
    if (contains(offered, name)) chosen.names.push_back(name);
  }
  // Without the flag the loader hides portability drivers (MoltenVK) from vkEnumeratePhysicalDevices.
  chosen.enumerate_portability = contains(offered, VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME);
  return chosen;
}

static std::vector<std::string> offered_extensions() {
  std::vector<std::string> names;
  for (const auto& e : vk::enumerateInstanceExtensionProperties()) names.emplace_back(e.extensionName.data());
  return names;
}

static void require_validation_layer() {
  const auto layers = vk::enumerateInstanceLayerProperties();
  const bool available = std::any_of(layers.begin(), layers.end(), [](const vk::LayerProperties& l) {
    return std::string_view(l.layerName.data()) == kValidationLayer;
  });
  if (!available) {
    throw Error("validation was requested but the Khronos validation layer is not installed: "
                "apt-get install vulkan-validationlayers");
  }
}

Instance::Instance(bool validation) {
  load_vulkan_loader();
  validation_ = validation || env_flag("VKFORMER_VALIDATION");
  const uint32_t api_version = instance_api_version();
  if (api_version < VK_API_VERSION_1_1) throw Error("the Vulkan loader offers only Vulkan 1.0; vkformer needs 1.1");

  extensions_ = choose_instance_extensions(offered_extensions());
  debug_utils_ = contains(extensions_.names, VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
  std::vector<const char*> enabled_extensions;
  for (const auto& name : extensions_.names) enabled_extensions.push_back(name.c_str());
  std::vector<const char*> enabled_layers;
  if (validation_) {
    require_validation_layer();
    enabled_layers.push_back(kValidationLayer);
  }

  vk::ApplicationInfo app{.pApplicationName = "vkformer",
                          .applicationVersion = VK_MAKE_API_VERSION(0, 0, 1, 0),
                          .pEngineName = "vkformer",
                          .apiVersion = api_version};
  const vk::ValidationFeatureEnableEXT enables[] = {vk::ValidationFeatureEnableEXT::eSynchronizationValidation};
  const vk::ValidationFeaturesEXT features{.enabledValidationFeatureCount = 1, .pEnabledValidationFeatures = enables};
  // Chained, the messenger also hears what vkCreateInstance and vkDestroyInstance report.
  const auto messenger_info = InstanceCallbacks::messenger_info(this, &features);
  const bool messenger = validation_ && debug_utils_;
  const void* next = validation_ ? &features : nullptr;
  if (messenger) next = &messenger_info;
  vk::InstanceCreateInfo create{.pNext = next,
                                .flags = extensions_.enumerate_portability
                                             ? vk::InstanceCreateFlagBits::eEnumeratePortabilityKHR
                                             : vk::InstanceCreateFlags{},
                                .pApplicationInfo = &app,
                                .enabledLayerCount = uint32_t(enabled_layers.size()),
                                .ppEnabledLayerNames = enabled_layers.data(),
                                .enabledExtensionCount = uint32_t(enabled_extensions.size()),
                                .ppEnabledExtensionNames = enabled_extensions.data()};
  try {
    instance_ = vk::createInstance(create);
  } catch (const vk::SystemError& e) {
    throw Error(fmt::format("cannot create a Vulkan instance ({}): is a Vulkan driver installed? "
                            "(apt-get install mesa-vulkan-drivers for CPU-only machines)",
                            e.what()));
  }
  VULKAN_HPP_DEFAULT_DISPATCHER.init(instance_);
  if (messenger) messenger_ = instance_.createDebugUtilsMessengerEXT(InstanceCallbacks::messenger_info(this));
}

Instance::~Instance() {
  if (messenger_) instance_.destroyDebugUtilsMessengerEXT(messenger_);
  if (instance_) instance_.destroy();
}

}  // namespace vkformer
