#include "check.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include <fmt/format.h>

#include "vkformer/error.hpp"
#include "vkformer/half.hpp"

namespace vkformer::conformance {

void poison_rows(std::vector<float>& x, uint32_t rows, uint32_t cols, uint32_t banned) {
  const float bad[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                       -std::numeric_limits<float>::infinity()};
  const uint32_t poisoned[] = {1, 3, 4};
  for (uint32_t i = 0; i < 3 && poisoned[i] < rows; ++i) {
    const uint32_t col = i == 1 && banned < cols ? banned : (poisoned[i] * 7919) % cols;
    x[size_t(poisoned[i]) * cols + col] = bad[i];
  }
}

std::vector<float> random_values(size_t count, uint32_t seed, float scale) {
  std::mt19937 generator(seed);
  std::uniform_real_distribution<float> uniform(-scale, scale);
  std::vector<float> values(count);
  for (auto& value : values) value = uniform(generator);
  return values;
}

Buffer guarded_buffer(Context& context, const std::vector<float>& values, const std::string& name) {
  std::vector<float> padded(values.size() + 2 * kGuard, kSentinel);
  std::copy(values.begin(), values.end(), padded.begin() + kGuard);
  Buffer buffer(context, padded.size() * sizeof(float), name);
  buffer.upload(std::span<const float>(padded));
  return buffer;
}

Buffer guarded_f16_buffer(Context& context, const std::vector<float>& values, const std::string& name) {
  std::vector<uint16_t> padded((values.size() + 2 * kGuard + 3) / 4 * 4, float_to_half(kSentinel));
  for (size_t i = 0; i < values.size(); ++i) padded[kGuard + i] = float_to_half(values[i]);
  Buffer buffer(context, padded.size() * sizeof(uint16_t), name, false, Element::f16);
  buffer.upload(std::span<const uint16_t>(padded));
  return buffer;
}

uint16_t float_to_bf16(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  return uint16_t((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);  // round to nearest even (finite values)
}

QuantizedMatrix quantized_matrix(Element element, uint32_t rows, uint32_t cols, uint32_t seed) {
  const size_t count = size_t(rows) * cols;
  QuantizedMatrix m{.element = element, .raw = std::vector<uint8_t>(count * element_bytes(element)), .scales = {},
                    .values = std::vector<double>(count)};
  std::mt19937 generator(seed);
  if (element == Element::bf16) {
    const auto uniform = random_values(count, seed);
    for (size_t i = 0; i < count; ++i) {
      const uint16_t bits = float_to_bf16(uniform[i]);
      std::memcpy(&m.raw[2 * i], &bits, 2);
      m.values[i] = double(std::bit_cast<float>(uint32_t(bits) << 16));
    }
    return m;
  }
  if (element != Element::i8 && element != Element::i16) throw Error("quantized_matrix: bf16, i8 or i16 only");
  const bool i8 = element == Element::i8;
  const int32_t q_max = i8 ? 127 : 32767;
  std::uniform_real_distribution<float> amax(i8 ? 0.05f : 0.5f, 2.0f);  // the row's largest |w|
  std::uniform_int_distribution<int32_t> q(-q_max - 1, q_max);
  m.scales.resize(i8 ? rows : 1);
  for (float& scale : m.scales) scale = float(q_max) / amax(generator);
  for (size_t i = 0; i < count; ++i) {
    const int32_t value = q(generator);
    if (i8) {
      m.raw[i] = uint8_t(int8_t(value));
    } else {
      const int16_t v16 = int16_t(value);
      std::memcpy(&m.raw[2 * i], &v16, 2);
    }
    m.values[i] = double(value) / double(m.scales[i8 ? i / cols : 0]);
  }
  return m;
}

Buffer guarded_quantized_buffer(Context& context, const QuantizedMatrix& matrix, uint32_t lead,
                                const std::string& name) {
  const size_t before = size_t(kGuard + lead) * element_bytes(matrix.element);
  std::vector<uint8_t> padded(before + matrix.raw.size() + kGuard * element_bytes(matrix.element), 0x7F);
  std::copy(matrix.raw.begin(), matrix.raw.end(), padded.begin() + long(before));
  Buffer buffer(context, padded.size(), name, false, matrix.element);
  buffer.upload(std::span<const uint8_t>(padded));
  return buffer;
}

Buffer guarded_output(Context& context, size_t count, const std::string& name) {
  return guarded_buffer(context, std::vector<float>(count, kSentinel), name);
}

Comparison compare(const std::vector<float>& device, const std::vector<double>& reference) {
  Comparison result;
  double error_energy = 0, reference_energy = 0;
  for (size_t i = 0; i < reference.size(); ++i) {
    const double d = device[i], r = reference[i];
    if (!std::isfinite(d)) {
      ++result.non_finite;
      continue;
    }
    const double error = std::abs(d - r);
    result.max_abs = std::max(result.max_abs, error);
    result.max_rel = std::max(result.max_rel, error / std::max(std::abs(r), 1.0));
    error_energy += error * error;
    reference_energy += r * r;
  }
  // Floor the energy at 1 per element, as max_rel does, so near-zero references do not inflate it.
  result.nmse = error_energy / std::max(reference_energy, double(reference.size()));
  return result;
}

Comparison compare_guarded(const Buffer& buffer, const std::vector<double>& reference) {
  const auto all = buffer.download<float>(reference.size() + 2 * kGuard);
  std::vector<float> body(all.begin() + kGuard, all.begin() + kGuard + long(reference.size()));
  Comparison result = compare(body, reference);
  for (uint32_t i = 0; i < kGuard; ++i) {
    result.sentinel_damage += all[i] != kSentinel;
    result.sentinel_damage += all[kGuard + reference.size() + i] != kSentinel;
  }
  return result;
}

// Ids in a guarded buffer against the expected ids: max_rel is the number of wrong ids (any fails).
Comparison compare_ids_guarded(const Buffer& buffer, const std::vector<uint32_t>& expected) {
  const auto all = buffer.download<uint32_t>(expected.size() + 2 * kGuard);
  Comparison result;
  for (size_t i = 0; i < expected.size(); ++i) {
    const uint32_t id = all[kGuard + i];
    if (id == expected[i]) continue;
    result.max_abs = std::max(result.max_abs, std::abs(double(id) - double(expected[i])));
    result.max_rel += 1;
    result.nmse = 1;
  }
  for (uint32_t i = 0; i < kGuard; ++i) {
    result.sentinel_damage += all[i] != std::bit_cast<uint32_t>(kSentinel);
    result.sentinel_damage += all[kGuard + expected.size() + i] != std::bit_cast<uint32_t>(kSentinel);
  }
  return result;
}

void merge(Comparison& into, const Comparison& other) {
  into.max_abs = std::max(into.max_abs, other.max_abs);
  into.max_rel = std::max(into.max_rel, other.max_rel);
  into.nmse = std::max(into.nmse, other.nmse);
  into.non_finite += other.non_finite;
  into.sentinel_damage += other.sentinel_damage;
}

Result finish(std::string op, std::string shape, const Comparison& comparison, const Tolerance& tolerance,
              const Sequence& sequence) {
  Result result{.op = std::move(op), .shape = std::move(shape), .comparison = comparison};
  result.passed = comparison.non_finite == 0 && comparison.sentinel_damage == 0 &&
                  comparison.max_rel <= tolerance.max_rel && comparison.nmse <= tolerance.nmse;
  if (comparison.non_finite) result.note += fmt::format("{} NaN/Inf; ", comparison.non_finite);
  if (comparison.sentinel_damage) result.note += fmt::format("{} guard elements overwritten; ", comparison.sentinel_damage);
  if (comparison.max_rel > tolerance.max_rel) result.note += fmt::format("max rel > {:g}; ", tolerance.max_rel);
  if (comparison.nmse > tolerance.nmse) result.note += fmt::format("nmse > {:g}; ", tolerance.nmse);
  const auto times = sequence.dispatch_times_ms();
  result.milliseconds = std::accumulate(times.begin(), times.end(), 0.0);
  return result;
}

}  // namespace vkformer::conformance
