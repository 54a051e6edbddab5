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

  // A sentence at a time with lavapipe's dispatches on the submitting thread: the same translations.
  const CliResult inline_threads = run_cli(
      fmt::format("translate {} --max-length {} --batch-size 1 --cpu-threads 0", tiny_model(), max_length), joined(sources));
  CHECK(inline_threads.exit_code == 0);
  CHECK(inline_threads.err.empty());
  CHECK(inline_threads.out == beam.out);
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

TEST_CASE("cli: --split-sentences translates each sentence of a line on its own and keeps the line's spacing",
          "[cli]") {
  const json g = golden();
  const auto sources = g["sources"].get<std::vector<std::string>>();
  const std::string greedy = fmt::format("translate {} --beam 1 --max-length 16", tiny_model());
  // Sentences 2-4 one per line, as the reference of what each becomes alone.
  const CliResult alone = run_cli(greedy, joined({sources[1], sources[2], sources[3]}));
  REQUIRE(alone.exit_code == 0);
  REQUIRE(alone.out.size() == 3);

  // Line 1: three sentences with one and two spaces between them; line 2 empty; line 3 one sentence with
  // no end mark; line 4 a lower-case word after a full stop, which does not start a sentence.
  const std::string first = sources[1] + " " + sources[2] + "  " + sources[3];
  const std::string lower = "Thank you very much. thank you";
  const CliResult split = run_cli(greedy + " --split-sentences", joined({first, "", sources[0], lower}));
  CHECK(split.exit_code == 0);
  CHECK(split.err.empty());
  REQUIRE(split.out.size() == 4);
  CHECK(split.out[0] == alone.out[0] + " " + alone.out[1] + "  " + alone.out[2]);
  CHECK(split.out[1].empty());
  CHECK(split.out[2] == g["greedy"]["outputs"][0]["text"].get<std::string>());
  const CliResult whole = run_cli(greedy, lower + "\n");
  REQUIRE(whole.out.size() == 1);
  CHECK(split.out[3] == whole.out[0]);

  // --json: the line's text and each sentence's record.
  const CliResult json_run = run_cli(greedy + " --split-sentences --json", first + "\n");
  REQUIRE(json_run.exit_code == 0);
  REQUIRE(json_run.out.size() == 1);
  const json record = json::parse(json_run.out[0]);
  CHECK(record["line"] == 1);
  CHECK(record["text"] == split.out[0]);
  REQUIRE(record["sentences"].size() == 3);
  CHECK(record["sentences"][1]["source"] == sources[2]);
  CHECK(record["sentences"][1]["text"] == alone.out[1]);

  // A bad sentence fails its line, after the lines before it.
  const CliResult bad = run_cli(greedy + " --split-sentences", joined({sources[1], sources[1] + " Bad \xff byte."}));
  CHECK(bad.exit_code == 1);
  CHECK(bad.out == std::vector<std::string>{alone.out[0]});
  REQUIRE(bad.err.size() == 1);
  CHECK_THAT(bad.err[0], Catch::StartsWith("vkformer: error: line 2:") && Catch::Contains("UTF-8"));

  // One translation per line: no n-best list, attention map or sampling.
  const TempDir dir;
  const std::string map = (dir.path() / "map.svg").string();
  for (const std::string& options :
       std::vector<std::string>{"--beam 2 --n-best 2", "--beam 1 --attention " + map, "--beam 1 --sampling-topk 4"}) {
    INFO(options);
    const CliResult usage =
        run_cli(fmt::format("translate {} --max-length 16 --split-sentences {}", tiny_model(), options), first + "\n");
    CHECK(usage.exit_code == 2);
    CHECK(usage.out.empty());
    REQUIRE(usage.err.size() == 1);
    CHECK_THAT(usage.err[0], Catch::Contains("--split-sentences"));
  }
}

TEST_CASE("cli: text given to a model without SentencePiece is warned about once, tokens are not", "[cli]") {
  const std::string model = fmt::format("--model '{}/ctranslate2/post_relu_shared'", VKFORMER_TEST_DATA);
  const CliResult text = run_cli(fmt::format("translate {} --beam 1 --max-length 4", model), "Hello world\nGood day\n");
  CHECK(text.exit_code == 0);
  CHECK(text.out.size() == 2);
  REQUIRE(text.err.size() == 1);
  CHECK_THAT(text.err[0], Catch::StartsWith("vkformer: warning: line 1: none of its tokens is in the model's source "
                                            "vocabulary") &&
                              Catch::Contains("reads tokens separated by spaces"));

  const CliResult tokens = run_cli(fmt::format("translate {} --beam 1 --max-length 4", model), "s3 s4 s5\n");
  CHECK(tokens.exit_code == 0);
  CHECK(tokens.out.size() == 1);
  CHECK(tokens.err.empty());
}
