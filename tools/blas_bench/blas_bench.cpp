// OpenBLAS sgemm on the matmul shapes of `vkformer bench ops` (C [M, N] = A [M, K] . B^T, B [N, K] as
// nn.Linear), printed in the same table / JSON format: one warm-up call, then the median of `repeat`.
#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include <cblas.h>
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace {

struct Shape {
  int M, N, K;
};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

std::vector<float> filled(size_t count) {
  std::vector<float> values(count);
  for (size_t i = 0; i < count; ++i) values[i] = float(int(i * 2654435761u % 2001u) - 1000) / 1000.0f;
  return values;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"OpenBLAS sgemm throughput on the shapes of `vkformer bench ops`"};
  int threads = 2;
  int repeat = 10;
  bool json = false;
  app.add_option("--threads", threads, "OpenBLAS threads")->check(CLI::Range(1, 1024));
  app.add_option("--repeat", repeat, "Timed calls per shape (median is reported)")->check(CLI::Range(1, 500));
  app.add_flag("--json", json, "Print JSON");
  CLI11_PARSE(app, argc, argv);

  openblas_set_num_threads(threads);
  const std::string device = fmt::format("{} | {} threads", openblas_get_config(), threads);
  const std::string variant = fmt::format("sgemm_nt t{}", threads);
  const Shape shapes[] = {{512, 512, 512}, {1024, 1024, 1024}, {64, 2048, 512},
                          {32, 512, 512},  {1, 512, 512},      {1, 2048, 512}};
  if (!json) {
    fmt::print("device: {} | tuning: - | {} calls, median\n", device, repeat);
    fmt::print("{:<8} {:<14} {:<14} {:>10} {:>10} {:>7} {:>11}\n", "op", "shape", "variant", "median ms", "rate",
               "unit", "submit ms");
  }
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& s : shapes) {
    const auto a = filled(size_t(s.M) * s.K), b = filled(size_t(s.N) * s.K);
    std::vector<float> c(size_t(s.M) * s.N);
    auto call = [&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s.M, s.N, s.K, 1.0f, a.data(), s.K, b.data(), s.K, 0.0f,
                  c.data(), s.N);
    };
    call();  // warm-up: thread pool start, first touches
    std::vector<double> ms;
    const auto all = std::chrono::steady_clock::now();
    for (int i = 0; i < repeat; ++i) {
      const auto start = std::chrono::steady_clock::now();
      call();
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
    const double total = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - all).count();
    const double t = median(ms);
    const double gflops = 2.0 * s.M * s.N * s.K / (t * 1e6);
    const std::string shape = fmt::format("{}x{}x{}", s.M, s.N, s.K);
    if (json) {
      rows.push_back({{"op", "matmul"}, {"shape", shape}, {"variant", variant}, {"median_ms", t}, {"rate", gflops},
                      {"unit", "GFLOPS"}, {"submit_ms", total}, {"dispatches", repeat}});
    } else {
      fmt::print("{:<8} {:<14} {:<14} {:>10.4f} {:>10.2f} {:>7} {:>11.2f}\n", "matmul", shape, variant, t, gflops,
                 "GFLOPS", total);
    }
  }
  if (json) {
    fmt::print("{}\n", nlohmann::json{{"device", device}, {"tuning", "-"}, {"dispatches", repeat},
                                      {"results", rows}}.dump(2));
  }
  return 0;
}
