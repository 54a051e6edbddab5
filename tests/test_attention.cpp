// Attention output (DecodeOptions::return_attention) and replace_unknowns against the reference runtimes:
// CTranslate2's return_attention / replace_unknowns and transformers' cross attentions
// (tools/reference/make_decoding_goldens.py).
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "test_context.hpp"
#include "vkformer/model/ctranslate2.hpp"
#include "vkformer/engine.hpp"

using namespace vkformer;
using testing::ids_of;
using nlohmann::json;

namespace {

// Softmax weights from fp32 scores, summed over <= 16 source positions and a few heads.
constexpr double kWeightTolerance = 2e-5;

// The first expected.size() vectors of `attention` against `expected` (CTranslate2 leaves out the end
// token's), each over the whole source.
void check_attention(const std::vector<std::vector<float>>& attention, const json& expected) {
  REQUIRE(attention.size() >= expected.size());
  for (size_t t = 0; t < expected.size(); ++t) {
    const auto want = expected[t].get<std::vector<double>>();
    INFO("token " << t);
    REQUIRE(attention[t].size() == want.size());
    double sum = 0.0;
    for (size_t s = 0; s < want.size(); ++s) {
      CHECK(attention[t][s] == Approx(want[s]).margin(kWeightTolerance));
      sum += attention[t][s];
    }
    CHECK(sum == Approx(1.0).margin(1e-5));
  }
}

json goldens() { return testing::read_test_json("decoding_goldens.json"); }

}  // namespace

TEST_CASE("attention: CTranslate2 models give CTranslate2's return_attention", "[attention][ctranslate2]") {
  Context& context = testing::context_for();
  const json all = goldens();
  for (const auto& [model, entries] : all.at("ctranslate2").items()) {
    const auto directory = std::string(VKFORMER_TEST_DATA) + "/ctranslate2/" + model;
    Engine translator(context, directory);
    const auto vocabularies = read_ctranslate2_vocabularies(directory);
    for (const auto& entry : entries) {
      const uint32_t beam = entry["beam"].get<uint32_t>();
      INFO(model << " beam " << beam << " source " << entry["source"].dump());
      const auto source = ids_of(entry["source"].get<std::vector<std::string>>(), vocabularies.source);
      // A batch of two, the other sentence shorter, so rows of different lengths share the step.
      const std::vector<std::vector<uint32_t>> batch{source, {source.front()}};
      const auto results = translator.translate(batch, {.beam = beam, .max_length = 25, .return_attention = true});
      const auto& hypothesis = results[0].hypotheses.at(0);
      const auto expected = ids_of(entry["hypothesis"].get<std::vector<std::string>>(), vocabularies.target);
      REQUIRE(std::vector<uint32_t>(hypothesis.ids.begin(), hypothesis.ids.begin() + long(expected.size())) == expected);
      CHECK(hypothesis.attention.size() == hypothesis.ids.size());
      check_attention(hypothesis.attention, entry["attention"]);
      for (const auto& weights : results[1].hypotheses.at(0).attention) CHECK(weights.size() == 1);
    }
  }
  testing::require_no_validation_messages(context);
}

TEST_CASE("attention: Marian models give transformers' cross attention, last layer's heads averaged",
          "[attention][translate]") {
  Context& context = testing::context_for();
  const json all = goldens();
  for (const auto& [model, entries] : all.at("transformers").items()) {
    const json golden = testing::read_test_json(model + "/golden.json");
    Engine translator(context, std::string(VKFORMER_TEST_DATA) + "/" + model);
    const auto sources = golden["sources"].get<std::vector<std::string>>();
    const auto& beam = golden["beam"];
    const DecodeOptions greedy{.beam = 1, .max_length = golden["greedy"]["max_length"].get<uint32_t>(),
                               .return_attention = true};
    const DecodeOptions beam_options{.beam = beam["beam_size"].get<uint32_t>(),
                                     .length_penalty = beam["length_penalty"].get<float>(),
                                     .max_length = beam["max_length"].get<uint32_t>(), .return_attention = true};
    const auto greedy_out = translator.translate_text(sources, greedy);
    const auto beam_out = translator.translate_text(sources, beam_options);
    for (const auto& entry : entries) {
      const auto i = entry["sentence"].get<size_t>();
      const bool is_greedy = entry["search"] == "greedy";
      INFO(model << " sentence " << i << " " << entry["search"].get<std::string>());
      const auto& hypothesis = (is_greedy ? greedy_out : beam_out)[i].hypotheses.at(0);
      REQUIRE(hypothesis.ids == entry["ids"].get<std::vector<uint32_t>>());
      REQUIRE(hypothesis.attention.size() == hypothesis.ids.size());
      check_attention(hypothesis.attention, entry["attention"]);
    }
  }
  testing::require_no_validation_messages(context);
}

TEST_CASE("attention: none unless asked for, and replace_unknowns alone does not return it", "[attention]") {
  Context& context = testing::context_for();
  Engine translator(context, std::string(VKFORMER_TEST_DATA) + "/tiny_swish_shared");
  const std::vector<std::string> lines{"Thank you very much."};
  CHECK(translator.translate_text(lines, {.beam = 2}).at(0).hypotheses.at(0).attention.empty());
  CHECK(translator.translate_text(lines, {.beam = 2, .replace_unknowns = true}).at(0).hypotheses.at(0).attention.empty());
  const auto with = translator.translate_text(lines, {.beam = 2, .return_attention = true}).at(0);
  const auto& hypothesis = with.hypotheses.at(0);
  CHECK(hypothesis.attention.size() == hypothesis.ids.size());
  for (const auto& weights : hypothesis.attention) CHECK(weights.size() == with.source_ids.size());
  testing::require_no_validation_messages(context);
}

TEST_CASE("replace_unknowns copies the most attended source token, as CTranslate2 does", "[attention][ctranslate2]") {
  Context& context = testing::context_for();
  const json golden = goldens().at("replace_unknowns");
  const auto directory = std::string(VKFORMER_TEST_DATA) + "/ctranslate2/" + golden["model"].get<std::string>();
  Engine translator(context, directory, false, std::nullopt, /*tokenized=*/true);
  // The tokens kind reads and writes tokens separated by spaces.
  const auto join = [](const json& tokens) {
    std::string text;
    for (const auto& token : tokens) {
      if (!text.empty()) text += ' ';
      text += token.get<std::string>();
    }
    return text;
  };
  const std::string line = join(golden["source"]);
  const DecodeOptions plain{.beam = 1, .max_length = 25};
  CHECK(translator.translate_text({line}, plain).at(0).hypotheses.at(0).text == join(golden["hypothesis"]));
  DecodeOptions replacing = plain;
  replacing.replace_unknowns = true;
  CHECK(translator.translate_text({line}, replacing).at(0).hypotheses.at(0).text == join(golden["replaced"]));
  testing::require_no_validation_messages(context);
}
