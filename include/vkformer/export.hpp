#pragma once
// VKFORMER_API marks the public API. The library is compiled with hidden visibility, so a shared
// libvkformer exports these declarations and nothing else.
#if defined(__GNUC__) || defined(__clang__)
#define VKFORMER_API __attribute__((visibility("default")))
#else
#define VKFORMER_API
#endif
