// The repetition penalty and no-repeat n-grams against the runtimes vkformer follows: transformers 4.40.2's
// generate() for Marian models and CTranslate2 4.3.1's translate_batch for CTranslate2 models, greedy and
// beam search (tools/make_repetition_goldens.py writes tests/data/repetition_goldens.json); that the
// default options record no edit dispatch; and the CLI's options.
#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "test_cli.hpp"
#include "test_context.hpp"
#include "vkformer/error.hpp"
#include "vkformer/model/ctranslate2.hpp"
#include "vkformer/profiler.hpp"
#include "vkformer/engine.hpp"

using namespace vkformer;
using testing::ids_of;
using nlohmann::json;

namespace {

const std::string kData = VKFORMER_TEST_DATA;
// Scores are sums of f32 log-probabilities over up to 25 steps (over the length), as in the other goldens.
constexpr double kScoreTolerance = 1e-4;

const json& goldens() {
  static const json all = testing::read_test_json("repetition_goldens.json");
  return all;
}

std::string describe(const json& c) {
  return fmt::format("beam {} options {}", c["beam"].get<int>(), c["options"].dump());
}

DecodeOptions options_of(const json& c, uint32_t max_length, uint32_t batch) {
  const auto& o = c["options"];
  return {.beam = c["beam"].get<uint32_t>(), .max_length = max_length, .batch_sentences = batch,
          .repetition_penalty = o.value("repetition_penalty", 1.0f),
          .no_repeat_ngram_size = o.value("no_repeat_ngram_size", 0u)};
}

// Decoder steps, and logit-edit dispatches in them, of a profile.
std::pair<size_t, size_t> steps_and_edits(const Profiler& profiler) {
  size_t steps = 0, edits = 0;
  for (const auto& submit : profiler.submits()) {
    if (submit.kind != "decoder step") continue;
    ++steps;
    for (const auto& layer : submit.layers) {
      for (const auto& dispatch : layer.dispatches) edits += dispatch.label == "logits edit";
    }
  }
  return {steps, edits};
}

}  // namespace

TEST_CASE("repetition penalty and no-repeat n-grams: Marian models as transformers' generate()", "[repetition]") {
  Context& context = testing::context_for();
  for (const auto& [model, golden] : goldens()["marian"].items()) {
    Engine translator(context, kData + "/" + model);
    const auto sources = golden["source_ids"].get<std::vector<std::vector<uint32_t>>>();
    for (uint32_t batch : {1u, 32u}) {
      for (const auto& c : golden["cases"]) {
        INFO(model << " batch " << batch << " " << describe(c));
        const auto results = translator.translate(sources, options_of(c, golden["max_length"].get<uint32_t>(), batch));
        for (size_t i = 0; i < sources.size(); ++i) {
          INFO("sentence " << i);
          const auto& hypothesis = results[i].hypotheses.at(0);
          CHECK(hypothesis.ids == c["outputs"][i].get<std::vector<uint32_t>>());
          if (!c["scores"].is_null()) {
            CHECK(*hypothesis.score == Approx(c["scores"][i].get<double>()).margin(kScoreTolerance));
          }
        }
      }
    }
  }
  testing::require_no_validation_messages(context);
}

TEST_CASE("repetition penalty and no-repeat n-grams: CTranslate2 models as translate_batch", "[repetition]") {
  Context& context = testing::context_for();
  for (const auto& [model, golden] : goldens()["ctranslate2"].items()) {
    const auto directory = kData + "/ctranslate2/" + model;
    Engine translator(context, directory);
    const auto vocabularies = read_ctranslate2_vocabularies(directory);
    const uint32_t eos = translator.config().eos_id;
    std::vector<std::vector<uint32_t>> sources;
    for (const auto& tokens : golden["sources"]) sources.push_back(ids_of(tokens, vocabularies.source));
    const uint32_t max_length = golden["max_decoding_length"].get<uint32_t>() + 1;
    for (const auto& c : golden["cases"]) {
      for (size_t i = 0; i < sources.size(); ++i) {
        INFO(model << " " << describe(c) << " prefix " << c["target_prefix"].dump() << " input " << i);
        // One input per call: the target prefix is the input's own.
        DecodeOptions options = options_of(c, max_length, 1);
        if (!c["target_prefix"].is_null()) options.target_prefix = ids_of(c["target_prefix"][i], vocabularies.target);
        const auto results = translator.translate({sources[i]}, options);
        auto ids = results[0].hypotheses.at(0).ids;
        if (!ids.empty() && ids.back() == eos) ids.pop_back();  // CTranslate2 leaves the end token out
        CHECK(ids == ids_of(c["outputs"][i], vocabularies.target));
        CHECK(*results[0].hypotheses[0].score == Approx(c["scores"][i].get<double>()).margin(kScoreTolerance));
      }
    }
  }
  testing::require_no_validation_messages(context);
}

TEST_CASE("repetition options: the defaults record no logit edit, others one per step, bad values are errors",
          "[repetition]") {
  Context& context = testing::context_for();
  REQUIRE(context.info().timestamp_valid_bits > 0);
  Engine translator(context, kData + "/tiny_swish_shared", true);
  const std::vector<std::string> lines{"Hello", "Thank you very much."};
  for (uint32_t beam : {1u, 4u}) {
    INFO("beam " << beam);
    Profiler plain_profile(true), edit_profile(true);
    translator.set_observer(&plain_profile);
    const auto plain = translator.translate_text(lines, {.beam = beam, .max_length = 16});
    translator.set_observer(&edit_profile);
    translator.translate_text(lines, {.beam = beam, .max_length = 16, .no_repeat_ngram_size = 2});
    const auto [plain_steps, plain_edits] = steps_and_edits(plain_profile);
    const auto [steps, edits] = steps_and_edits(edit_profile);
    CHECK(plain_steps > 0);
    CHECK(plain_edits == 0);
    CHECK(steps > 0);
    CHECK(edits == steps);
    translator.set_observer(nullptr);
    const auto one = translator.translate_text(lines, {.beam = beam, .max_length = 16, .repetition_penalty = 1.0f});
    for (size_t i = 0; i < lines.size(); ++i) CHECK(one[i].hypotheses[0].ids == plain[i].hypotheses[0].ids);
  }
  for (float bad : {0.0f, -1.3f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    INFO(bad);
    CHECK_THROWS_WITH(translator.translate_text(lines, {.repetition_penalty = bad}),
                      "repetition penalty must be a finite number above 0");
  }
  testing::require_no_validation_messages(context);
}

TEST_CASE("cli: --repetition-penalty and --no-repeat-ngram-size, bad values exit 2 with one error line",
          "[repetition][cli]") {
  const std::string base = fmt::format("translate --model '{}/tiny_swish_shared' --max-length 16 -q", kData);
  const std::string input = "Hello\nThank you very much.\n";
  // A unigram may not repeat: no token twice in any output.
  const auto run = testing::run_cli(base + " --beam 1 --json --no-repeat-ngram-size 1 --repetition-penalty 1.3", input);
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.out.size() == 2);
  for (const auto& line : run.out) {
    auto ids = json::parse(line)["hypotheses"][0]["ids"].get<std::vector<uint32_t>>();
    std::sort(ids.begin(), ids.end());
    CHECK(std::adjacent_find(ids.begin(), ids.end()) == ids.end());
  }
  for (const std::string bad : {"--repetition-penalty 0", "--repetition-penalty -1", "--repetition-penalty nan",
                                "--repetition-penalty inf", "--repetition-penalty x", "--no-repeat-ngram-size -1",
                                "--no-repeat-ngram-size 1.5", "--no-repeat-ngram-size x"}) {
    INFO(bad);
    const auto result = testing::run_cli(base + " " + bad + " Hello", "");
    CHECK(result.exit_code == 2);
    CHECK(result.out.empty());
    REQUIRE(result.err.size() == 1);
    CHECK(result.err[0].find(bad.substr(0, bad.find(' '))) != std::string::npos);
  }
}
