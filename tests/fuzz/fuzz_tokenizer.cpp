// The tokenizer on arbitrary input text (a tiny model's SentencePiece models and vocabulary), then the
// decoder on what it gave and on the input's bytes read as ids.
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_common.hpp"
#include "vkformer/model/tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const vkformer::Tokenizer tokenizer(VKFORMER_FUZZ_MODEL);
  const std::string text(reinterpret_cast<const char*>(data), size);
  vkformer::fuzz::expect_only_errors([&] { tokenizer.decode(tokenizer.encode(text)); });
  std::vector<uint32_t> ids(data, data + size);
  tokenizer.decode(ids);
  return 0;
}
