// `vkformer translate --attention` (SVG heat maps, matrices in --json) and --replace-unknowns, as a user
// runs them.
#include <filesystem>

#include <fmt/format.h>

#include "test_cli.hpp"
#include "test_context.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using vkformer::testing::CliResult;
using vkformer::testing::read_bytes;
using vkformer::testing::run_cli;
using vkformer::testing::tiny_model;
using vkformer::testing::TempDir;

namespace {

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("cli: --attention DIR draws a heat map per line and --json carries the matrices", "[cli][attention]") {
  const TempDir dir;
  const auto maps = dir.path() / "maps";  // created by the command
  const std::vector<std::string> lines{"Hello", "Thank you very much.", "Where is the train station?"};
  const CliResult run = run_cli(
      fmt::format("translate {} --beam 2 --json --attention '{}'", tiny_model(), maps.string()),
      lines[0] + "\n" + lines[1] + "\n" + lines[2] + "\n");
  CHECK(run.exit_code == 0);
  CHECK(run.err.empty());
  REQUIRE(run.out.size() == lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    INFO("line " << i + 1);
    const json record = json::parse(run.out[i]);
    const auto source_ids = record["source_ids"].get<std::vector<uint32_t>>();
    const auto source_tokens = record["source_tokens"].get<std::vector<std::string>>();
    REQUIRE(source_tokens.size() == source_ids.size());
    CHECK(source_tokens.back() == "</s>");
    const json& best = record["hypotheses"][0];
    const auto ids = best["ids"].get<std::vector<uint32_t>>();
    const auto attention = best["attention"].get<std::vector<std::vector<double>>>();
    REQUIRE(best["tokens"].size() == ids.size());
    REQUIRE(attention.size() == ids.size());
    for (const auto& row : attention) {
      REQUIRE(row.size() == source_ids.size());
      double sum = 0;
      for (double w : row) sum += w;
      CHECK(sum == Approx(1.0).margin(1e-5));
    }
    const std::string svg = read_bytes(maps / fmt::format("line-{}.svg", i + 1));
    CHECK(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    CHECK(svg.ends_with("</svg>\n"));
    CHECK(count(svg, "<rect class=\"cell\"") == ids.size() * source_ids.size());
    CHECK(count(svg, "<text class=\"source\"") == source_ids.size());
    CHECK(count(svg, "<text class=\"target\"") == ids.size());
    CHECK(svg.find("&lt;/s&gt;") != std::string::npos);  // labels are escaped
    CHECK(svg.find("</s>") == std::string::npos);
    CHECK(svg.find(lines[i]) != std::string::npos);  // in the title
  }
}

TEST_CASE("cli: --attention FILE.svg takes one line, and more is a usage error after the first", "[cli][attention]") {
  const TempDir dir;
  const auto file = dir.path() / "map.svg";
  const CliResult one = run_cli(fmt::format("translate {} --attention '{}' Hello", tiny_model(), file.string()), "");
  CHECK(one.exit_code == 0);
  CHECK(one.err.empty());
  CHECK(count(read_bytes(file), "<rect class=\"cell\"") > 0);

  const CliResult two = run_cli(fmt::format("translate {} --attention '{}'", tiny_model(), file.string()), "Hello\nThanks\n");
  CHECK(two.exit_code == 2);
  CHECK(two.out.size() <= 1);
  REQUIRE(two.err.size() == 1);
  CHECK_THAT(two.err[0], Catch::Contains("line 2") && Catch::Contains("directory"));

  const CliResult unwritable =
      run_cli(fmt::format("translate {} --attention '{}' Hello", tiny_model(), (dir.path() / "no/such/map.svg").string()), "");
  CHECK(unwritable.exit_code == 1);
  REQUIRE(unwritable.err.size() == 1);
  CHECK_THAT(unwritable.err[0], Catch::Contains("cannot write the attention map"));
}

TEST_CASE("cli: --replace-unknowns keeps a character the model does not know", "[cli][attention]") {
  // The shipped model has no piece for the snowman: it translates it as unk, which is dropped without the option.
  const std::string model = fmt::format("--model '{}/en-de' --beam 1", VKFORMER_MODELS);
  const CliResult dropped = run_cli(fmt::format("translate {} 'Press \u2603 to continue'", model), "");
  CHECK(dropped.exit_code == 0);
  REQUIRE(dropped.out.size() == 1);
  CHECK(dropped.out[0].find("\u2603") == std::string::npos);
  const CliResult kept = run_cli(fmt::format("translate {} --replace-unknowns 'Press \u2603 to continue'", model), "");
  CHECK(kept.exit_code == 0);
  CHECK(kept.err.empty());
  REQUIRE(kept.out.size() == 1);
  CHECK(kept.out[0] == "Dr\u00fccken Sie \u2603 zum Fortsetzen");
}
