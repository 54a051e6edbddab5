// The `vkformer translate` command as a user runs it: output on stdout, and for bad input one error line
// on stderr and a non-zero exit, with everything before the bad line already printed.
#include <filesystem>

#include <fmt/format.h>

#include "test_cli.hpp"
#include "test_context.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using vkformer::testing::CliResult;
using vkformer::testing::run_cli;
using vkformer::testing::tiny_model;
using vkformer::testing::TempDir;

namespace {

json golden() { return vkformer::testing::read_test_json("tiny_swish_shared/golden.json"); }

std::string joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return text;
}

}  // namespace

TEST_CASE("cli: translate reads stdin line by line and decodes as the model's generation config asks", "[cli]") {
  const json g = golden();
  const auto sources = g["sources"].get<std::vector<std::string>>();
  const auto max_length = g["greedy"]["max_length"].get<uint32_t>();

  const CliResult greedy = run_cli(fmt::format("translate {} --beam 1 --max-length {}", tiny_model(), max_length), joined(sources));
  CHECK(greedy.exit_code == 0);
  CHECK(greedy.err.empty());
  REQUIRE(greedy.out.size() == sources.size());
  for (size_t i = 0; i < sources.size(); ++i) CHECK(greedy.out[i] == g["greedy"]["outputs"][i]["text"].get<std::string>());

  // No --beam: generation_config.json's num_beams (4) and length_penalty, as transformers' generate().
  const CliResult beam = run_cli(fmt::format("translate {} --max-length {}", tiny_model(), max_length), joined(sources));
  CHECK(beam.exit_code == 0);
  CHECK(beam.err.empty());
  REQUIRE(beam.out.size() == sources.size());
  for (size_t i = 0; i < sources.size(); ++i) CHECK(beam.out[i] == g["beam"]["outputs"][i][0]["text"].get<std::string>());
}

TEST_CASE("cli: bad input gives one error line and a non-zero exit, after the lines before it", "[cli]") {
  const json g = golden();
  const std::string first = g["sources"][0].get<std::string>();
  const std::string translated = g["greedy"]["outputs"][0]["text"].get<std::string>();
  const std::string greedy = fmt::format("translate {} --beam 1 --max-length 16", tiny_model());

  const CliResult utf8 = run_cli(greedy, first + "\nbad \xff byte\n" + first + "\n");
  CHECK(utf8.exit_code == 1);
  CHECK(utf8.out == std::vector<std::string>{translated});
  REQUIRE(utf8.err.size() == 1);
  CHECK_THAT(utf8.err[0], Catch::StartsWith("vkformer: error: line 2:") && Catch::Contains("UTF-8"));

  std::string long_line;
  for (int i = 0; i < 3000; ++i) long_line += "word ";
  const CliResult too_long = run_cli(greedy + " --max-input-length 0", long_line + "\n");
  CHECK(too_long.exit_code == 1);
  CHECK(too_long.out.empty());
  REQUIRE(too_long.err.size() == 1);
  CHECK_THAT(too_long.err[0], Catch::Contains("line 1") && Catch::Contains("positions"));

  const CliResult no_model = run_cli("translate --model /nonexistent-vkformer-model hello", "");
  CHECK(no_model.exit_code == 1);
  REQUIRE(no_model.err.size() == 1);
  CHECK_THAT(no_model.err[0], Catch::Contains("/nonexistent-vkformer-model"));

  const TempDir dir;
  const fs::path broken = dir.path() / "model";
  fs::copy(fs::path(VKFORMER_TEST_DATA) / "tiny_swish_shared", broken);
  fs::resize_file(broken / "model.safetensors", fs::file_size(broken / "model.safetensors") / 2);
  const CliResult truncated = run_cli(fmt::format("translate --model '{}' hello", broken.string()), "");
  CHECK(truncated.exit_code == 1);
  REQUIRE(truncated.err.size() == 1);
  CHECK_THAT(truncated.err[0], Catch::Contains("model.safetensors") && Catch::Contains("truncated"));

  // No Vulkan driver at all (the loader finds no ICD), without validation layers to load either.
  const CliResult no_driver = run_cli(fmt::format("translate {} hello", tiny_model()), "",
                                   "VK_ICD_FILENAMES=/nonexistent.json VK_DRIVER_FILES=/nonexistent.json VKFORMER_VALIDATION=0");
  CHECK(no_driver.exit_code == 1);
  CHECK(no_driver.out.empty());
  REQUIRE(no_driver.err.size() == 1);
  CHECK_THAT(no_driver.err[0], Catch::StartsWith("vkformer: error:") && Catch::Contains("Vulkan"));
}
