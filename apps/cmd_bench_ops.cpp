// `vkformer bench ops`: throughput of single kernels. Each case records `repeat` dispatches of one op
// into one timestamped Sequence, submits it once to warm up (the first dispatch compiles the pipeline on
// CPU drivers), submits it again and reports the median per-dispatch time from the GPU timestamps.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "vkformer/context.hpp"
#include "vkformer/error.hpp"
#include "vkformer/ops/matmul.hpp"
#include "vkformer/ops/softmax.hpp"
#include "vkformer/sequence.hpp"

namespace vkformer::cli {

namespace {

struct Case {
  std::string op, shape, variant;
  double work = 0;     // flops (matmul) or bytes moved (softmax) per dispatch
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

// C [M, N] = A [M, K] . B^T with B [N, K], as nn.Linear.
Case matmul_case(Context& context, uint32_t M, uint32_t N, uint32_t K) {
  Case c{.op = "matmul", .shape = fmt::format("{}x{}x{}", M, N, K), .work = 2.0 * M * N * K};
  const MatmulShape shape{.M = M, .N = N, .K = K};
  c.variant = std::string(matmul_variant(context, shape));
  c.buffers.push_back(filled_buffer(context, size_t(M) * K, "bench.a"));
  c.buffers.push_back(filled_buffer(context, size_t(N) * K, "bench.b"));
  c.buffers.emplace_back(context, uint64_t(M) * N * sizeof(float), "bench.c");
  // Element addresses survive moving the vector, so the recorder may keep them.
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

}  // namespace

void add_bench_ops(CLI::App& bench, Run& run) {
  auto* command = bench.add_subcommand("ops", "Kernel throughput: matmul GFLOPS, softmax GB/s");
  static ContextOptions options;
  static uint32_t repeat = 10;
  static std::string only, only_shape;
  static bool json = false;
  command->add_option("--device", options.device, "Device index or name substring");
  command->add_option("--tuning", options.tuning, "Tuning table entry (generic, nvidia, amd, intel, cpu)");
  command->add_option("--repeat", repeat, "Dispatches per measured submit (median is reported)")
      ->check(CLI::Range(1, 500));
  command->add_option("--op", only, "Only this op (matmul, softmax)");
  command->add_option("--shape", only_shape,
                      "Only this shape (as printed, e.g. 1024x1024x1024); any MxNxK runs that matmul");
  command->add_flag("--json", json, "Print JSON");
  command->callback([&run] {
    run = [] {
      Context context(options);
      struct Entry {
        std::string op;
        std::array<uint32_t, 4> dims;
      };
      std::vector<Entry> cases = {{"matmul", {512, 512, 512}},  {"matmul", {1024, 1024, 1024}},
                                  {"matmul", {64, 2048, 512}},  {"matmul", {32, 512, 512}},
                                  {"matmul", {1, 512, 512}},    {"matmul", {1, 2048, 512}},
                                  {"softmax", {8, 16, 64, 64}}, {"softmax", {32, 8, 128, 128}}};
      std::array<uint32_t, 3> mnk{};
      int used = 0;
      if (std::sscanf(only_shape.c_str(), "%ux%ux%u%n", &mnk[0], &mnk[1], &mnk[2], &used) == 3 &&
          size_t(used) == only_shape.size() && mnk[0] && mnk[1] && mnk[2]) {
        cases = {{"matmul", {mnk[0], mnk[1], mnk[2], 0}}};
      }
      if (!json) {
        fmt::print("device: {} | tuning: {} | {} dispatches per submit, median of the second submit\n",
                   context.info().name, context.tuning().name, repeat);
        fmt::print("{:<8} {:<14} {:<14} {:>10} {:>10} {:>7} {:>11}\n", "op", "shape", "variant", "median ms",
                   "rate", "unit", "submit ms");
      }
      nlohmann::json rows = nlohmann::json::array();
      for (const auto& [op, d] : cases) {
        const std::string shape = op == "matmul" ? fmt::format("{}x{}x{}", d[0], d[1], d[2])
                                                 : fmt::format("{}x{}x{}x{}", d[0], d[1], d[2], d[3]);
        if ((!only.empty() && op != only) || (!only_shape.empty() && shape != only_shape)) continue;
        Case c = op == "matmul" ? matmul_case(context, d[0], d[1], d[2]) : softmax_case(context, d[0], d[1], d[2], d[3]);
        const Timing t = measure(context, c, repeat);
        const double rate = c.work / (t.median_ms * 1e6);  // GFLOPS or GB/s
        const char* unit = c.bytes ? "GB/s" : "GFLOPS";
        if (json) {
          rows.push_back({{"op", c.op}, {"shape", c.shape}, {"variant", c.variant}, {"median_ms", t.median_ms},
                          {"rate", rate}, {"unit", unit}, {"submit_ms", t.submit_ms}, {"dispatches", repeat}});
        } else {
          fmt::print("{:<8} {:<14} {:<14} {:>10.4f} {:>10.2f} {:>7} {:>11.2f}\n", c.op, c.shape, c.variant,
                     t.median_ms, rate, unit, t.submit_ms);
        }
      }
      if (json) {
        fmt::print("{}\n", nlohmann::json{{"device", context.info().name}, {"tuning", context.tuning().name},
                                          {"dispatches", repeat}, {"results", rows}}.dump(2));
      }
      return 0;
    };
  });
}

}  // namespace vkformer::cli
