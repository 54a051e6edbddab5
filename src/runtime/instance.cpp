#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

#include "vkformer/context.hpp"
#include "vkformer/error.hpp"

VULKAN_HPP_DEFAULT_DISPATCH_LOADER_DYNAMIC_STORAGE

namespace vkformer {

static constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";

struct InstanceCallbacks {
  static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                   VkDebugUtilsMessageTypeFlagsEXT,
                                                   const VkDebugUtilsMessengerCallbackDataEXT* data, void* user) {
    if (severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
      auto* instance = static_cast<Instance*>(user);
      instance->messages_.fetch_add(1);
      fmt::print(stderr, "vulkan validation: {}\n", data->pMessage ? data->pMessage : "(no message)");
    }
    return VK_FALSE;
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

Instance::Instance(bool validation) {
  load_vulkan_loader();
  validation_ = validation || env_flag("VKFORMER_VALIDATION");

  const auto layers = vk::enumerateInstanceLayerProperties();
  const auto extensions = vk::enumerateInstanceExtensionProperties();
  debug_utils_ = std::any_of(extensions.begin(), extensions.end(), [](const vk::ExtensionProperties& e) {
    return std::strcmp(e.extensionName, VK_EXT_DEBUG_UTILS_EXTENSION_NAME) == 0;
  });
  std::vector<const char*> enabled_layers;
  std::vector<const char*> enabled_extensions;
  if (debug_utils_) enabled_extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
  if (validation_) {
    const bool available = std::any_of(layers.begin(), layers.end(), [](const vk::LayerProperties& l) {
      return std::strcmp(l.layerName, kValidationLayer) == 0;
    });
    if (!available) {
      throw Error("validation was requested but the Khronos validation layer is not installed: "
                  "apt-get install vulkan-validationlayers");
    }
    enabled_layers.push_back(kValidationLayer);
  }

  vk::ApplicationInfo app{.pApplicationName = "vkformer",
                          .applicationVersion = VK_MAKE_API_VERSION(0, 0, 1, 0),
                          .pEngineName = "vkformer",
                          .apiVersion = VK_API_VERSION_1_2};
  const vk::ValidationFeatureEnableEXT enables[] = {vk::ValidationFeatureEnableEXT::eSynchronizationValidation};
  vk::ValidationFeaturesEXT features{.enabledValidationFeatureCount = 1, .pEnabledValidationFeatures = enables};
  vk::InstanceCreateInfo create{.pNext = validation_ ? &features : nullptr,
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

  if (validation_ && debug_utils_) {
    using Severity = vk::DebugUtilsMessageSeverityFlagBitsEXT;
    using Type = vk::DebugUtilsMessageTypeFlagBitsEXT;
    messenger_ = instance_.createDebugUtilsMessengerEXT(
        {.messageSeverity = Severity::eWarning | Severity::eError,
         .messageType = Type::eGeneral | Type::eValidation,
         .pfnUserCallback = &InstanceCallbacks::on_message,
         .pUserData = this});
  }
}

Instance::~Instance() {
  if (messenger_) instance_.destroyDebugUtilsMessengerEXT(messenger_);
  if (instance_) instance_.destroy();
}

}  // namespace vkformer
