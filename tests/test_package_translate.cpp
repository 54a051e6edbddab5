// An Argos Translate package translated end to end: argostranslate's tokenization, decoding defaults (beam
// 4, length penalty 0.2) and target prefix, against CTranslate2 4.3.1's own output for the same package
// (tests/data/packages/translate-en_de-tiny.json, made by tools/packages/make_test_package.py).
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "test_context.hpp"
#include "vkformer/engine.hpp"

using namespace vkformer;
using namespace vkformer::testing;

TEST_CASE("an Argos package translates as argostranslate and CTranslate2 do", "[package][translate]") {
  const auto data = std::filesystem::path(VKFORMER_TEST_DATA) / "packages";
  const auto golden = nlohmann::json::parse(std::ifstream(data / "translate-en_de-tiny.json"));
  Context& context = context_for();
  Engine translator(context, data / "translate-en_de-tiny.argosmodel");
  REQUIRE(translator.package());
  CHECK(translator.package()->from_code == "en");
  CHECK(translator.package()->to_code == "de");

  const auto options = translator.model_decode_options();
  CHECK(options.beam == 4);
  CHECK(options.length_penalty == Approx(0.2f));
  REQUIRE(options.target_prefix.size() == 1);

  // The sentences argostranslate translated (it skips empty ones), in one batch as it does.
  std::vector<std::string> lines;
  std::vector<std::vector<uint32_t>> source_ids;
  for (size_t i = 0; i < golden["sentences"].size(); ++i) {
    const auto sentence = golden["sentences"][i].get<std::string>();
    if (sentence.empty()) continue;
    lines.push_back(sentence);
    source_ids.push_back(golden["source_ids"][i].get<std::vector<uint32_t>>());
  }
  const auto& expected = golden["translations_argos_options"];
  REQUIRE(expected.size() == lines.size());
  const auto results = translator.translate_text(lines, options);
  // Every line as CTranslate2 (tokens and scores). Lines 1 and 6 ("Hello world.", "x") also check that
  // min_decoding_length counts the target prefix: counted after it, the end token was banned one step
  // longer, out of the log-softmax, and both took another path at their 34th token.
  for (size_t i = 0; i < lines.size(); ++i) {
    INFO("line " << i + 1 << ": " << lines[i]);
    CHECK(results[i].source_ids == source_ids[i]);
    REQUIRE(results[i].hypotheses.size() == 1);
    const auto& h = results[i].hypotheses[0];
    auto ids = h.ids;  // CTranslate2 returns hypotheses without the end token
    if (!ids.empty() && ids.back() == translator.config().eos_id) ids.pop_back();
    const auto want = expected[i]["ids"].get<std::vector<uint32_t>>();
    CHECK(ids == want);
    REQUIRE(h.score);
    CHECK(*h.score == Approx(expected[i]["score"].get<float>()).epsilon(1e-4));
    CHECK(h.text == expected[i]["text"].get<std::string>());
  }
  // An empty line has no tokens: its translation is empty.
  const auto empty = translator.translate_text({""}, options);
  REQUIRE(empty.size() == 1);
  CHECK(empty[0].hypotheses.at(0).text.empty());
  require_no_validation_messages(context);
}
