# Turns a SPIR-V binary into a C++ source holding its 32-bit words (little-endian).
file(READ ${SPV} hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR word_count "${hex_length} / 8")
string(REGEX REPLACE "(..)(..)(..)(..)" "0x\\4\\3\\2\\1u," words "${hex}")
string(REGEX REPLACE "((0x[0-9a-f]+u,){8})" "\\1\n" words "${words}")
file(WRITE ${OUT}.tmp "// Generated from ${NAME}.comp by cmake/spirv_to_cpp.cmake.
#include <cstdint>
#include <span>
namespace vkformer::shaders {
static const uint32_t words[${word_count}] = {
${words}
};
extern const std::span<const uint32_t> spirv_${NAME}(words, ${word_count});
}  // namespace vkformer::shaders
")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
