// `vkformer translate` as a streaming filter and its robustness options: answers while stdin stays open,
// -i/-o, --on-error skip, --max-input-length, --json records, Marian's n-best format, --version.
#include <filesystem>
#include <fstream>
#include <regex>

#include <fmt/format.h>

#include "test_cli.hpp"
#include "test_cli_child.hpp"
#include "test_context.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using vkformer::testing::Child;
using vkformer::testing::CliResult;
using vkformer::testing::read_lines;
using vkformer::testing::run_cli;
using vkformer::testing::TempDir;

namespace {

std::string tiny() { return fmt::format("{}/tiny_swish_shared", VKFORMER_TEST_DATA); }
json golden() { return vkformer::testing::read_test_json("tiny_swish_shared/golden.json"); }
std::string greedy() { return fmt::format("translate --model '{}' --beam 1 --max-length 16", tiny()); }
std::string greedy_text(size_t i) { return golden()["greedy"]["outputs"][i]["text"].get<std::string>(); }
std::string source(size_t i) { return golden()["sources"][i].get<std::string>(); }

std::string long_line() {
  std::string line;
  for (int i = 0; i < 3000; ++i) line += "word ";
  return line;
}

}  // namespace

TEST_CASE("cli stream: a line's translation arrives while stdin stays open", "[cli]") {
  const TempDir dir;
  Child child({"translate", "--model", tiny(), "--beam", "1", "--max-length", "16"}, (dir.path() / "err").string());
  child.write(source(0) + "\n");
  CHECK(child.read_line() == greedy_text(0));  // before line 2 exists
  child.write(source(1) + "\n" + source(2) + "\n");
  CHECK(child.read_line() == greedy_text(1));
  CHECK(child.read_line() == greedy_text(2));
  child.close_stdin();
  CHECK(child.read_line() == std::nullopt);
  CHECK(child.wait() == 0);
  CHECK(read_lines(dir.path() / "err").empty());
}

TEST_CASE("cli stream: -i and -o, output in input order", "[cli]") {
  const TempDir dir;
  std::string input;
  for (size_t i = 0; i < 5; ++i) input += source(4 - i) + "\n";
  std::ofstream(dir.path() / "in.txt") << input;
  const auto out = dir.path() / "out.txt";
  const CliResult result = run_cli(
      fmt::format("{} --batch-size 2 -i '{}' -o '{}'", greedy(), (dir.path() / "in.txt").string(), out.string()), "");
  CHECK(result.exit_code == 0);
  CHECK(result.out.empty());
  CHECK(result.err.empty());
  const auto lines = read_lines(out);
  REQUIRE(lines.size() == 5);
  for (size_t i = 0; i < 5; ++i) CHECK(lines[i] == greedy_text(4 - i));

  const CliResult missing = run_cli(fmt::format("{} -i '{}/nosuch.txt'", greedy(), dir.path().string()), "");
  CHECK(missing.exit_code == 1);
  REQUIRE(missing.err.size() == 1);
  CHECK_THAT(missing.err[0], Catch::StartsWith("vkformer: error: cannot open input") && Catch::Contains("nosuch.txt"));

  const CliResult both = run_cli(fmt::format("{} -i '{}' hello", greedy(), (dir.path() / "in.txt").string()), "");
  CHECK(both.exit_code == 2);
}

TEST_CASE("cli stream: --on-error skip writes an empty line, warns with the line number, and goes on", "[cli]") {
  const std::string input = source(0) + "\nbad \xff byte\n" + source(1) + "\n";
  const CliResult skipped = run_cli(greedy() + " --on-error skip", input);
  CHECK(skipped.exit_code == 0);
  CHECK(skipped.out == std::vector<std::string>{greedy_text(0), "", greedy_text(1)});
  REQUIRE(skipped.err.size() == 1);
  CHECK_THAT(skipped.err[0], Catch::StartsWith("vkformer: warning: line 2:") && Catch::Contains("UTF-8"));

  const CliResult json_skipped = run_cli(greedy() + " --on-error skip --json", input);
  CHECK(json_skipped.exit_code == 0);
  REQUIRE(json_skipped.out.size() == 3);
  CHECK(json::parse(json_skipped.out[1])["line"] == 2);
  CHECK(json::parse(json_skipped.out[1]).contains("error"));
  CHECK(json::parse(json_skipped.out[2])["line"] == 3);
  CHECK(json::parse(json_skipped.out[2])["hypotheses"][0]["text"] == greedy_text(1));

  const CliResult failed = run_cli(greedy() + " --on-error fail", input);
  CHECK(failed.exit_code == 1);
  CHECK(failed.out == std::vector<std::string>{greedy_text(0)});
}

TEST_CASE("cli stream: --max-input-length truncates with a warning, and 0 makes a long line an error", "[cli]") {
  // The model has 128 positions: the default 1024 is capped there.
  const std::string input = source(0) + "\n" + long_line() + "\n" + source(1) + "\n";
  const CliResult truncated = run_cli(greedy() + " --json", input);
  CHECK(truncated.exit_code == 0);
  REQUIRE(truncated.out.size() == 3);
  const json record = json::parse(truncated.out[1]);
  const auto positions = vkformer::testing::read_test_json("tiny_swish_shared/config.json")["max_position_embeddings"];
  CHECK(record["source_ids"].size() == positions);
  CHECK(record["source_ids"].back() == 0);  // eos kept at the end
  CHECK(record["truncated_from_tokens"].get<size_t>() > positions.get<size_t>());
  CHECK(json::parse(truncated.out[2])["hypotheses"][0]["text"] == greedy_text(1));
  REQUIRE(truncated.err.size() == 1);
  CHECK_THAT(truncated.err[0], Catch::Contains("warning: line 2:") && Catch::Contains("tokens, only the first"));

  const CliResult eight = run_cli(greedy() + " --json --max-input-length 8", source(4) + "\n");
  CHECK(eight.exit_code == 0);
  REQUIRE(eight.out.size() == 1);
  CHECK(json::parse(eight.out[0])["source_ids"].size() == 8);

  const CliResult error = run_cli(greedy() + " --max-input-length 0", input);
  CHECK(error.exit_code == 1);
  CHECK(error.out == std::vector<std::string>{greedy_text(0)});
  REQUIRE(error.err.size() == 1);
  CHECK_THAT(error.err[0], Catch::Contains("line 2:") && Catch::Contains("positions"));
}

TEST_CASE("cli stream: --json line numbers and n-best in Marian's format", "[cli]") {
  const json g = golden();
  const CliResult records = run_cli(greedy() + " --json", source(0) + "\n" + source(1) + "\n");
  CHECK(records.exit_code == 0);
  REQUIRE(records.out.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    const json record = json::parse(records.out[i]);
    CHECK(record["line"] == i + 1);
    CHECK(record["source"] == source(i));
    CHECK(record["latency_ms"].get<double>() > 0);
  }

  const auto max_length = g["beam"]["max_length"].get<int>();
  const CliResult nbest = run_cli(fmt::format("translate --model '{}' --max-length {} --n-best 2", tiny(), max_length),
                                  source(0) + "\n" + source(1) + "\n");
  CHECK(nbest.exit_code == 0);
  REQUIRE(nbest.out.size() == 4);
  const std::regex format(R"((\d+) \|\|\| (.*) \|\|\| (-?\d+\.\d+))");
  for (size_t i = 0; i < 4; ++i) {
    std::smatch match;
    REQUIRE(std::regex_match(nbest.out[i], match, format));
    CHECK(match[1] == std::to_string(i / 2));
    const json& hypothesis = g["beam"]["outputs"][i / 2][i % 2];
    CHECK(match[2] == hypothesis["text"].get<std::string>());
    CHECK(std::stod(match[3]) == Approx(hypothesis["score"].get<double>()).margin(1e-3));
  }
}

TEST_CASE("cli: --version, also in devices --json", "[cli]") {
  const CliResult version = run_cli("--version", "");
  CHECK(version.exit_code == 0);
  REQUIRE(version.out.size() == 1);
  CHECK_THAT(version.out[0], Catch::Matches(R"(vkformer \d+\.\d+\.\d+.*)"));
  const CliResult devices = run_cli("devices --json", "");
  CHECK(devices.exit_code == 0);
  std::string text;
  for (const auto& line : devices.out) text += line;
  CHECK("vkformer " + json::parse(text)["version"].get<std::string>() == version.out[0]);
}
