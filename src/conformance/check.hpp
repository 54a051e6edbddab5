#pragma once
// Helpers shared by the per-op conformance cases: deterministic inputs, guarded output buffers, and
// comparison against the fp64 reference.
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "vkformer/buffer.hpp"
#include "vkformer/conformance/conformance.hpp"
#include "vkformer/sequence.hpp"

namespace vkformer::conformance {

// Elements of guard before and after every output, filled with kSentinel; a shader writing out of bounds
// changes them.
inline constexpr uint32_t kGuard = 64;
inline constexpr float kSentinel = -7.7777e33f;

std::vector<float> random_values(size_t count, uint32_t seed, float scale = 1.0f);

// Rows 1, 3 and 4 of x [rows, cols] (those present) get a NaN, +Inf and -Inf, the +Inf in the banned
// column when there is one: argmax and top-k must return kNonFiniteRow for each.
void poison_rows(std::vector<float>& x, uint32_t rows, uint32_t cols, uint32_t banned);

// A buffer holding `values` (input) at offset kGuard, with guards filled with kSentinel.
Buffer guarded_buffer(Context& context, const std::vector<float>& values, const std::string& name);
// The same as f16 (Element::f16), padded to whole texels.
Buffer guarded_f16_buffer(Context& context, const std::vector<float>& values, const std::string& name);
Buffer guarded_output(Context& context, size_t count, const std::string& name);

// A [rows, cols] matrix as CTranslate2 stores weights: bf16 (rounded from uniform values), i8 (all of
// -128..127, one random scale per row) or i16 (all of -32768..32767, one scale), w = q / scale.
struct QuantizedMatrix {
  Element element;
  std::vector<uint8_t> raw;     // rows * cols elements, little-endian
  std::vector<float> scales;    // i8: rows, i16: 1, bf16: none
  std::vector<double> values;   // the dequantized weights, for the fp64 references
};
QuantizedMatrix quantized_matrix(Element element, uint32_t rows, uint32_t cols, uint32_t seed);
// Its elements after kGuard + `lead` elements, guards of 0x7F bytes (a large bf16, i8 127, i16 32639).
Buffer guarded_quantized_buffer(Context& context, const QuantizedMatrix& matrix, uint32_t lead,
                                const std::string& name);
uint16_t float_to_bf16(float value);

// Reads count elements after the guard and compares with the reference; also checks the guards.
Comparison compare_guarded(const Buffer& buffer, const std::vector<double>& reference);
Comparison compare(const std::vector<float>& device, const std::vector<double>& reference);
// Ids (uint32) after the guard against the expected ids: max_rel counts wrong ids, so any fails.
Comparison compare_ids_guarded(const Buffer& buffer, const std::vector<uint32_t>& expected);
// Folds `other` into `into`: the worse error of each kind, the sum of the counts.
void merge(Comparison& into, const Comparison& other);

Result finish(std::string op, std::string shape, const Comparison& comparison, const Tolerance& tolerance,
              const Sequence& sequence);

// Records the sequence through `record`, runs it once to warm up and once to measure (the shaders must be
// idempotent: outputs never alias inputs in the cases, except where `reset` restores, between the runs,
// an output that is also an input).
template <typename Record>
void run_once(Context& context, Sequence& sequence, Record record, const std::function<void()>& reset = {}) {
  sequence.begin();
  record(sequence);
  sequence.end();
  context.submit_and_wait({sequence.command_buffer()});  // first run compiles the pipeline on some drivers
  if (reset) reset();
  context.submit_and_wait({sequence.command_buffer()});
}

}  // namespace vkformer::conformance
