// `vkformer bench ops`: throughput of single kernels. Each case records `repeat` dispatches of one op
// into one timestamped Sequence, submits it once to warm up (the first dispatch compiles the pipeline on
// CPU drivers), submits it again and reports the median per-dispatch time from the GPU timestamps.
#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "io.hpp"
#include "vkformer/context.hpp"
#include "vkformer/error.hpp"
#include "vkformer/half.hpp"
#include "vkformer/ops/limits.hpp"
#include "vkformer/ops/matmul.hpp"
#include "vkformer/ops/softmax.hpp"
#include "vkformer/ops/topk.hpp"
#include "vkformer/sequence.hpp"

namespace vkformer::cli {

namespace {

struct Case {
  std::string op, shape, variant;
  double work = 0;     // flops (matmul) or bytes moved (softmax, top-k) per dispatch
  bool bytes = false;  // work is bytes: report GB/s instead of GFLOPS
  std::vector<Buffer> buffers;
  std::function<void(Sequence&)> record;  // records one dispatch
};

Buffer filled_buffer(Context& context, size_t count, const std::string& name) {
  std::vector<float> values(count);
  for (size_t i = 0; i < count; ++i) values[i] = float(int(i * 2654435761u % 2001u) - 1000) / 1000.0f;
  Buffer buffer(context, count * sizeof(float), name);
  buffer.upload(std::span<const float>(values));
  return buffer;
}

// B as f16 (weights under --precision f16): read through an RGBA16F view, so K must be a multiple of 4.
Buffer filled_half_buffer(Context& context, size_t count, const std::string& name) {
  std::vector<uint16_t> values(count);
  for (size_t i = 0; i < count; ++i) values[i] = float_to_half(float(int(i * 2654435761u % 2001u) - 1000) / 1000.0f);
  Buffer buffer(context, count * sizeof(uint16_t), name, false, Element::f16);
  buffer.upload(std::span<const uint16_t>(values));
  return buffer;
}

// B as CTranslate2 stores weights: bf16, or i8 / i16 (values spread over their range; scales separate).
Buffer filled_quantized_buffer(Context& context, size_t count, Element element, const std::string& name) {
  std::vector<uint8_t> raw(count * element_bytes(element));
  for (size_t i = 0; i < count; ++i) {
    const int value = int(i * 2654435761u % 2001u) - 1000;
    if (element == Element::i8) {
      raw[i] = uint8_t(int8_t(value * 127 / 1000));
    } else {
      const uint16_t bits = element == Element::i16 ? uint16_t(int16_t(value * 32))
                                                    : uint16_t(std::bit_cast<uint32_t>(float(value) / 1000.0f) >> 16);
      std::memcpy(&raw[2 * i], &bits, 2);
    }
  }
  Buffer buffer(context, raw.size(), name, false, element);
  buffer.upload(std::span<const uint8_t>(raw));
  return buffer;
}

// C [M, N] = A [M, K] . B^T with B [N, K], as nn.Linear; B stored as `weights`.
Case matmul_case(Context& context, uint32_t M, uint32_t N, uint32_t K, Element weights, MatmulKernel kernel) {
  const bool f16 = weights == Element::f16, scaled = weights == Element::i8 || weights == Element::i16;
  if (f16 && K % 4) throw UsageError(fmt::format("--precision f16 needs K divisible by 4 (shape {}x{}x{})", M, N, K));
  Case c{.op = "matmul", .shape = fmt::format("{}x{}x{}", M, N, K), .work = 2.0 * M * N * K};
  MatmulShape shape{.M = M, .N = N, .K = K, .kernel = kernel};
  c.variant = std::string(matmul_variant(context, shape, weights)) +
              (weights == Element::f32 ? "" : fmt::format(".{}", element_name(weights)));
  c.buffers.push_back(filled_buffer(context, size_t(M) * K, "bench.a"));
  const size_t b_count = size_t(N) * K;
  c.buffers.push_back(f16                       ? filled_half_buffer(context, b_count, "bench.b")
                      : weights == Element::f32 ? filled_buffer(context, b_count, "bench.b")
                                                : filled_quantized_buffer(context, b_count, weights, "bench.b"));
  c.buffers.emplace_back(context, uint64_t(M) * N * sizeof(float), "bench.c");
  if (scaled) c.buffers.push_back(filled_buffer(context, N, "bench.b_scale"));
  // Element addresses survive moving the vector, so the recorder may keep them.
  if (scaled) shape.b_scale = {&c.buffers[3]};
  c.record = [&context, a = &c.buffers[0], b = &c.buffers[1], out = &c.buffers[2], shape](Sequence& s) {
    record_matmul(s, context, {a}, {b}, {}, {out}, shape);
  };
  return c;
}

// Softmax over the last dim of [batch, heads, q_len, cols]: reads and writes every element once.
Case softmax_case(Context& context, uint32_t batch, uint32_t heads, uint32_t q_len, uint32_t cols) {
  const uint32_t rows = batch * heads * q_len;
  Case c{.op = "softmax", .shape = fmt::format("{}x{}x{}x{}", batch, heads, q_len, cols), .variant = "softmax",
         .work = 2.0 * rows * cols * sizeof(float), .bytes = true};
  c.buffers.push_back(filled_buffer(context, size_t(rows) * cols, "bench.x"));
  c.buffers.emplace_back(context, uint64_t(rows) * cols * sizeof(float), "bench.out");
  c.record = [&context, x = &c.buffers[0], out = &c.buffers[1], rows, cols, heads, q_len](Sequence& s) {
    record_softmax(s, context, {x}, {out}, rows, cols, heads, q_len, 1.0f);
  };
  return c;
}

// Top-k with log-softmax of each row, as beam search takes its candidates: reads every element once.
Case topk_case(Context& context, uint32_t rows, uint32_t cols, uint32_t k) {
  Case c{.op = "topk", .shape = fmt::format("{}x{}:{}", rows, cols, k), .variant = "topk",
         .work = double(rows) * cols * sizeof(float), .bytes = true};
  c.buffers.push_back(filled_buffer(context, size_t(rows) * cols, "bench.x"));
  c.buffers.emplace_back(context, uint64_t(rows) * k * sizeof(float), "bench.ids");
  c.buffers.emplace_back(context, uint64_t(rows) * k * sizeof(float), "bench.values");
  c.record = [&context, x = &c.buffers[0], ids = &c.buffers[1], values = &c.buffers[2], rows, cols, k](Sequence& s) {
    record_topk(s, context, {x}, rows, cols, k, ids, 0, {values}, true);
  };
  return c;
}

// The device's ceilings (shaders/peak_fma.comp in f32 or f16, shaders/copy.comp), sized for CPU drivers or GPUs.
Case peak_case(Context& context, Element arithmetic) {
  const uint32_t count = ceiling_sizes(context).fma_invocations, iterations = ceiling_sizes(context).fma_iterations;
  Case c{.op = "peak", .shape = fmt::format("{}x{}", count, iterations),
         .variant = arithmetic == Element::f16 ? "peak_fma_f16" : "peak_fma", .work = peak_fma_flops(count, iterations)};
  c.buffers.emplace_back(context, uint64_t(count) * sizeof(float), "bench.out");
  c.record = [&context, out = &c.buffers[0], count, iterations, arithmetic](Sequence& s) {
    record_peak_fma(s, context, {out, 0}, count, iterations, arithmetic);
  };
  return c;
}

Case copy_case(Context& context) {
  const uint64_t bytes = ceiling_sizes(context).copy_bytes;
  Case c{.op = "copy", .shape = fmt::format("{}MiB", bytes >> 20), .variant = "copy", .work = 2.0 * bytes,
         .bytes = true};
  c.buffers.push_back(filled_buffer(context, bytes / 4, "bench.in"));
  c.buffers.emplace_back(context, bytes, "bench.out");
  c.record = [&context, in = &c.buffers[0], out = &c.buffers[1], bytes](Sequence& s) {
    record_copy(s, context, {in, 0}, {out, 0}, uint32_t(bytes / 16));
  };
  return c;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

struct Timing {
  double median_ms, submit_ms;
};

Timing measure(Context& context, Case& c, uint32_t repeat) {
  Sequence sequence(context, "bench." + c.op, true);
  if (!sequence.timestamps()) throw Error("this device's queue has no timestamps: bench ops needs them");
  sequence.begin();
  for (uint32_t i = 0; i < repeat; ++i) c.record(sequence);
  sequence.end();
  context.submit_and_wait({sequence.command_buffer()});  // warm-up: pipeline compilation, first touches
  const auto start = std::chrono::steady_clock::now();
  context.submit_and_wait({sequence.command_buffer()});
  const std::chrono::duration<double, std::milli> wall = std::chrono::steady_clock::now() - start;
  return {median(sequence.dispatch_times_ms()), wall.count()};
}

struct Entry {
  std::string op;
  std::array<uint32_t, 4> dims;
};

// "MxNxK" is a matmul, "BxHxQxC" a softmax, "RxC:K" a top-k. Operands are capped at 2^28 elements (1 GiB
// of f32), so a typo is an error rather than an allocation failure.
Entry parse_shape(const std::string& text) {
  const auto bad = [&](const char* why) { return UsageError(fmt::format("--shape '{}': {}", text, why)); };
  if (const size_t colon = text.find(':'); colon != std::string::npos) {
    const Entry rows_cols = parse_shape(text.substr(0, colon) + "x1");  // RxCx1: a matmul's checks
    const std::string digits = text.substr(colon + 1);
    const bool number = !digits.empty() && digits.size() <= 2 && digits.find_first_not_of("0123456789") == std::string::npos;
    const uint32_t k = number ? uint32_t(std::stoul(digits)) : 0;
    if (k == 0 || k > kMaxTopK || k > rows_cols.dims[1]) {
      throw bad(fmt::format("top-k: expected RxC:K with K from 1 to min(C, {})", kMaxTopK).c_str());
    }
    return {"topk", {rows_cols.dims[0], rows_cols.dims[1], k, 0}};
  }
  std::vector<uint64_t> dims;
  for (size_t begin = 0; begin <= text.size();) {
    const size_t end = std::min(text.find('x', begin), text.size());
    const std::string part = text.substr(begin, end - begin);
    if (part.empty() || part.size() > 7 || part.find_first_not_of("0123456789") != std::string::npos) {
      throw bad("expected MxNxK (matmul), BxHxQxC (softmax) or RxC:K (top-k), positive integers up to 7 digits");
    }
    dims.push_back(std::stoull(part));
    if (dims.back() == 0) throw bad("dimensions must be positive");
    begin = end + 1;
  }
  constexpr uint64_t kMaxElements = uint64_t(1) << 28;
  if (dims.size() == 3) {
    const uint64_t M = dims[0], N = dims[1], K = dims[2];
    if (M * K > kMaxElements || N * K > kMaxElements || M * N > kMaxElements) throw bad("an operand exceeds 2^28 elements");
    return {"matmul", {uint32_t(M), uint32_t(N), uint32_t(K), 0}};
  }
  if (dims.size() == 4) {
    if (dims[0] * dims[1] * dims[2] * dims[3] > kMaxElements) throw bad("the input exceeds 2^28 elements");
    return {"softmax", {uint32_t(dims[0]), uint32_t(dims[1]), uint32_t(dims[2]), uint32_t(dims[3])}};
  }
  throw bad("expected MxNxK (matmul), BxHxQxC (softmax) or RxC:K (top-k)");
}

}  // namespace

void add_bench_ops(CLI::App& bench, Run& run) {
  auto* command = bench.add_subcommand("ops", "Kernel throughput (matmul GFLOPS, softmax and top-k GB/s) and the device's "
                                              "peak FMA GFLOPS (f32, and f16 where the device computes in f16) and copy GB/s");
  static ContextOptions options;
  static uint32_t repeat = 10;
  static std::vector<std::string> only;
  static std::vector<std::string> shapes;
  static Element weights = Element::f32;
  static MatmulKernel kernel = MatmulKernel::automatic;
  static bool json = false;
  add_device_options(command, options);
  command->add_option("--repeat", repeat, "Dispatches per measured submit (median is reported)")
      ->check(CLI::Range(1, 500));
  command->add_option("--op", only, "Only these ops")->check(CLI::IsMember({"matmul", "softmax", "topk", "peak", "copy"}));
  command->add_option("--shape", shapes, "Only these shapes: MxNxK runs that matmul, BxHxQxC that softmax, RxC:K top-k with log-softmax");
  add_precision_option(command, weights, "Matmul B (the weights) stored as f32, f16, bf16, i8 or i16");
  command
      ->add_option_function<std::string>(
          "--kernel",
          [](const std::string& name) {
            const std::string lower = CLI::detail::to_lower(name);
            kernel = lower == "gemv"      ? MatmulKernel::gemv
                     : lower == "blocked" ? MatmulKernel::blocked
                     : lower == "coopmat" ? MatmulKernel::cooperative
                                          : MatmulKernel::automatic;
          },
          "Matmul kernel: auto (the tuning's choice, default), gemv, blocked (tiled or register), coopmat (tensor "
          "cores: --precision f16 under a tuning with cooperative matrices)")
      ->check(CLI::IsMember({"auto", "gemv", "blocked", "coopmat"}, CLI::ignore_case));
  command->add_flag("--json", json, "Print JSON");
  command->callback([&run] {
    run = [] {
      std::vector<Entry> cases = {{"matmul", {512, 512, 512}},  {"matmul", {1024, 1024, 1024}},
                                  {"matmul", {64, 2048, 512}},  {"matmul", {32, 512, 512}},
                                  {"matmul", {1, 512, 512}},    {"matmul", {1, 2048, 512}},
                                  {"softmax", {8, 16, 64, 64}}, {"softmax", {32, 8, 128, 128}},
                                  {"topk", {4, 8000, 8, 0}},    {"topk", {32, 58101, 8, 0}},
                                  {"peak", {}},                 {"peak", {16}},  // f32, f16
                                  {"copy", {}}};
      if (!shapes.empty()) cases.clear();
      for (const auto& text : shapes) cases.push_back(parse_shape(text));
      if (!only.empty()) {
        std::erase_if(cases, [](const Entry& e) { return std::find(only.begin(), only.end(), e.op) == only.end(); });
      }
      if (cases.empty()) throw UsageError("no benchmark case matches --op and --shape");
      Context context(options);
      if (!json) {
        out("device: {} | tuning: {} | {} dispatches per submit, median of the second submit\n",
            context.info().name, context.tuning().name, repeat);
        out("{:<8} {:<14} {:<14} {:>10} {:>10} {:>7} {:>11}\n", "op", "shape", "variant", "median ms",
            "rate", "unit", "submit ms");
      }
      nlohmann::json rows = nlohmann::json::array(), skipped = nlohmann::json::array();
      for (const auto& [op, d] : cases) {
        if (op == "peak" && d[0] == 16 && !context.float16()) {
          const std::string why = "the device has no shaderFloat16 on Vulkan 1.2";
          if (json) skipped.push_back({{"op", "peak"}, {"variant", "peak_fma_f16"}, {"reason", why}});
          if (!json) out("peak_fma_f16 skipped: {}\n", why);
          continue;
        }
        Case c = op == "matmul"    ? matmul_case(context, d[0], d[1], d[2], weights, kernel)
                 : op == "softmax" ? softmax_case(context, d[0], d[1], d[2], d[3])
                 : op == "topk"    ? topk_case(context, d[0], d[1], d[2])
                 : op == "peak"    ? peak_case(context, d[0] == 16 ? Element::f16 : Element::f32)
                                   : copy_case(context);
        const Timing t = measure(context, c, repeat);
        const double rate = c.work / (t.median_ms * 1e6);  // GFLOPS or GB/s
        const char* unit = c.bytes ? "GB/s" : "GFLOPS";
        if (json) {
          rows.push_back({{"op", c.op}, {"shape", c.shape}, {"variant", c.variant}, {"median_ms", t.median_ms},
                          {"rate", rate}, {"unit", unit}, {"submit_ms", t.submit_ms}, {"dispatches", repeat}});
        } else {
          out("{:<8} {:<14} {:<14} {:>10.4f} {:>10.2f} {:>7} {:>11.2f}\n", c.op, c.shape, c.variant,
              t.median_ms, rate, unit, t.submit_ms);
        }
      }
      if (json) {
        out("{}\n", nlohmann::json{{"device", context.info().name}, {"tuning", context.tuning().name},
                                   {"dispatches", repeat}, {"results", rows}, {"skipped", skipped}}.dump(2));
      }
      return 0;
    };
  });
}

}  // namespace vkformer::cli
