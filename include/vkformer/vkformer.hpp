#pragma once
// The whole public API: Translator (translator.hpp), its options and results (decode.hpp), the devices
// (device.hpp), Error (error.hpp) and version().
#include "vkformer/decode.hpp"
#include "vkformer/device.hpp"
#include "vkformer/error.hpp"
#include "vkformer/translator.hpp"
#include "vkformer/version.hpp"
