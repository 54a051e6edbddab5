// The vocab.json reader, against a vocabulary of 8,000 ids (the shipped model's).
#include <cstdint>
#include <string>

#include "fuzz_common.hpp"
#include "vkformer/model/tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const vkformer::JsonText vocab{"vocab.json", std::string(reinterpret_cast<const char*>(data), size)};
  vkformer::fuzz::expect_only_errors([&] { vkformer::parse_vocab(vocab, 8000); });
  return 0;
}
