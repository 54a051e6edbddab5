#pragma once
// What crosses the public API is an Error; the layers below may also throw Vulkan-Hpp's errors,
// std::bad_alloc and other standard exceptions.
#include <algorithm>
#include <exception>
#include <mutex>
#include <new>
#include <string>

#include <fmt/format.h>
#include <vulkan/vulkan.hpp>

#include "vkformer/error.hpp"

namespace vkformer {

// Creating a Vulkan instance initialises Vulkan-Hpp's process-wide dispatcher: one thread at a time.
inline std::mutex& instance_setup_mutex() {
  static std::mutex mutex;
  return mutex;
}

// Runs `call`, turning any exception that is not an Error into one, with a one-line message.
template <typename Call>
auto guarded(Call&& call) -> decltype(call()) {
  const auto one_line = [](std::string text) {
    std::replace(text.begin(), text.end(), '\n', ' ');
    return text;
  };
  try {
    return call();
  } catch (const Error&) {
    throw;
  } catch (const vk::SystemError& e) {
    throw Error(one_line(fmt::format("Vulkan: {}", e.what())));
  } catch (const std::bad_alloc&) {
    throw Error("out of host memory");
  } catch (const std::exception& e) {
    throw Error(one_line(e.what()));
  } catch (...) {
    throw Error("an exception that is not a std::exception");
  }
}

}  // namespace vkformer
