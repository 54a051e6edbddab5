// The engine against golden outputs of the PyTorch reference (tools/reference/, checked against
// transformers' MarianMTModel): tokenizer ids, encoder output, teacher-forced logits, greedy and beam.
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "test_cli.hpp"
#include "test_context.hpp"
#include "vkformer/error.hpp"
#include "vkformer/engine.hpp"

using namespace vkformer;
using nlohmann::json;

namespace {

// fp32 engine against fp32 PyTorch: the reference's own fp32-vs-fp64 noise is ~1e-5 on logits of
// magnitude ~10 (tools/reference/README.md); 1e-4 relative to the largest logit leaves room for a
// different summation order.
constexpr double kLogitTolerance = 1e-4;
constexpr double kEncoderTolerance = 5e-4;
constexpr double kScoreTolerance = 1e-4;

json load_golden(const std::string& model) { return testing::read_test_json(model + "/golden.json"); }

std::vector<std::vector<uint32_t>> id_lists(const json& value) { return value.get<std::vector<std::vector<uint32_t>>>(); }

const std::vector<std::string> kModels{"tiny_swish_shared", "tiny_gelu_separate", "tiny_relu_odd"};

// Engine runs: every model with f32 matrices, and the f16 model with f16 matrices (--precision f16),
// where storing its weights as f16 loses nothing, so the same tolerances apply.
struct Run {
  std::string model;
  Element precision;
};
const std::vector<Run> kRuns{{"tiny_swish_shared", Element::f32},
                             {"tiny_gelu_separate", Element::f32},
                             {"tiny_relu_odd", Element::f32},
                             {"tiny_gelu_separate", Element::f16}};

}  // namespace

TEST_CASE("tokenizer matches MarianTokenizer", "[translate]") {
  for (const auto& model : kModels) {
    const json golden = load_golden(model);
    const Tokenizer tokenizer(std::string(VKFORMER_TEST_DATA) + "/" + model);
    const auto sources = golden["sources"].get<std::vector<std::string>>();
    const auto expected = id_lists(golden["source_ids"]);
    for (size_t i = 0; i < sources.size(); ++i) {
      INFO(model << ": " << sources[i]);
      CHECK(tokenizer.encode(sources[i]) == expected[i]);
    }
    for (const auto& output : golden["greedy"]["outputs"]) {
      CHECK(tokenizer.decode(output["ids"].get<std::vector<uint32_t>>()) == output["text"].get<std::string>());
    }
  }
}

// Under the device's tuning and two GPU ones, whose kernels lavapipe runs as well: nvidia (tiled and gemv
// matmuls with fused norms, encoder attention in query blocks, a workgroup per decoder attention row) and
// generic (separate layer_norm dispatches).
TEST_CASE("encoder output and teacher-forced logits match the reference", "[translate]") {
  for (const auto& [model, precision, tuning] : [] {
         std::vector<std::tuple<std::string, Element, std::string>> runs;
         for (const auto& run : kRuns) runs.emplace_back(run.model, run.precision, "");
         for (const std::string tuning : {"nvidia", "generic"}) runs.emplace_back("tiny_relu_odd", Element::f32, tuning);
         return runs;
       }()) {
    // One context at a time, as test_conformance: drivers are not torn down with other devices open.
    Context context(ContextOptions{.tuning = tuning, .validation = true});
    INFO(model << (precision == Element::f16 ? " f16" : " f32") << " tuning " << context.tuning().name);
    const json golden = load_golden(model);
    Engine translator(context, std::string(VKFORMER_TEST_DATA) + "/" + model, false, precision);
    const auto sources = id_lists(golden["source_ids"]);

    uint32_t bucket = 0;
    const auto encoded = translator.encoder_output(sources, bucket);
    const auto shape = golden["encoder_output"]["shape"].get<std::vector<uint32_t>>();
    const auto expected = golden["encoder_output"]["data"].get<std::vector<double>>();
    double encoder_error = 0;
    for (uint32_t b = 0; b < shape[0]; ++b) {
      // Only real positions: padded rows depend on how far the batch was padded.
      for (uint32_t t = 0; t < sources[b].size(); ++t) {
        for (uint32_t k = 0; k < shape[2]; ++k) {
          const double got = encoded[(size_t(b) * bucket + t) * shape[2] + k];
          encoder_error = std::max(encoder_error, std::abs(got - expected[(size_t(b) * shape[1] + t) * shape[2] + k]));
        }
      }
    }
    CHECK(encoder_error <= kEncoderTolerance);

    const auto inputs = id_lists(golden["forced_decoding"]["decoder_input_ids"]);
    const auto logit_shape = golden["forced_decoding"]["logits"]["shape"].get<std::vector<uint32_t>>();
    const auto logits = golden["forced_decoding"]["logits"]["data"].get<std::vector<double>>();
    const auto got = translator.forced_logits(sources, inputs);
    double largest = 0, error = 0;
    for (uint32_t b = 0; b < logit_shape[0]; ++b) {
      for (uint32_t t = 0; t < logit_shape[1]; ++t) {
        for (uint32_t v = 0; v < logit_shape[2]; ++v) {
          const double want = logits[(size_t(b) * logit_shape[1] + t) * logit_shape[2] + v];
          largest = std::max(largest, std::abs(want));
          error = std::max(error, std::abs(double(got[b][t][v]) - want));
        }
      }
    }
    INFO("max logit error " << error << " of largest " << largest);
    CHECK(error <= kLogitTolerance * std::max(largest, 1.0));
    testing::require_no_validation_messages(context);
  }
}

TEST_CASE("greedy and beam search give the reference's tokens and scores", "[translate]") {
  Context& context = testing::context_for();
  for (const auto& [model, precision] : kRuns) {
    for (uint32_t batch : {1u, 32u}) {
      INFO(model << (precision == Element::f16 ? " f16" : " f32") << " batch " << batch);
      const json golden = load_golden(model);
      Engine translator(context, std::string(VKFORMER_TEST_DATA) + "/" + model, false, precision);
      const auto sources = golden["sources"].get<std::vector<std::string>>();

      DecodeOptions greedy{.beam = 1, .max_length = golden["greedy"]["max_length"].get<uint32_t>(), .batch_sentences = batch};
      const auto greedy_out = translator.translate_text(sources, greedy);
      for (size_t i = 0; i < sources.size(); ++i) {
        const auto& want = golden["greedy"]["outputs"][i];
        CHECK(greedy_out[i].hypotheses.at(0).ids == want["ids"].get<std::vector<uint32_t>>());
        CHECK(greedy_out[i].hypotheses.at(0).text == want["text"].get<std::string>());
      }

      const auto& beam = golden["beam"];
      DecodeOptions beam_options{.beam = beam["beam_size"].get<uint32_t>(), .n_best = beam["n_best"].get<uint32_t>(),
                                 .length_penalty = beam["length_penalty"].get<float>(),
                                 .max_length = beam["max_length"].get<uint32_t>(), .batch_sentences = batch};
      const auto beam_out = translator.translate_text(sources, beam_options);
      for (size_t i = 0; i < sources.size(); ++i) {
        const auto& want = beam["outputs"][i];
        REQUIRE(beam_out[i].hypotheses.size() == want.size());
        for (size_t n = 0; n < want.size(); ++n) {
          INFO("sentence " << i << " hypothesis " << n);
          CHECK(beam_out[i].hypotheses[n].ids == want[n]["ids"].get<std::vector<uint32_t>>());
          CHECK(std::abs(*beam_out[i].hypotheses[n].score - want[n]["score"].get<double>()) <= kScoreTolerance);
        }
      }
      testing::require_no_validation_messages(context);
    }
  }
}

TEST_CASE("bad models and inputs fail with one clear error", "[translate]") {
  Context& context = testing::context_for();
  const std::string data = VKFORMER_TEST_DATA;
  CHECK_THROWS_WITH(Engine(context, data + "/does-not-exist"), Catch::Contains("does not exist"));
  Engine translator(context, data + "/tiny_swish_shared");
  CHECK_THROWS_WITH(translator.encode("bad \xff utf-8"), Catch::Contains("UTF-8"));
  std::string long_line;
  for (int i = 0; i < 3000; ++i) long_line += "word ";
  CHECK_THROWS_WITH(translator.encode(long_line), Catch::Contains("positions"));
}

// transformers' MarianMTModel, the reference of record, ignores the legacy pre-LN keys (it is always
// post-LN; tools/reference/DECODING.md), so a config that sets them must decode exactly as without them.
TEST_CASE("legacy pre-LN config keys change nothing as in transformers", "[translate]") {
  namespace fs = std::filesystem;
  const testing::TempDir temp;  // its own directory: test runs may overlap (ctest -j, several builds)
  const fs::path dir = temp.path() / "model";
  fs::copy(fs::path(VKFORMER_TEST_DATA) / "tiny_swish_shared", dir);
  json config;
  std::ifstream(dir / "config.json") >> config;
  config["normalize_before"] = true;
  config["normalize_embedding"] = true;
  config["add_final_layer_norm"] = true;
  std::ofstream(dir / "config.json") << config.dump();

  Context& context = testing::context_for();
  const json golden = load_golden("tiny_swish_shared");
  Engine translator(context, dir);
  const auto sources = golden["sources"].get<std::vector<std::string>>();
  const DecodeOptions greedy{.beam = 1, .max_length = golden["greedy"]["max_length"].get<uint32_t>()};
  const auto out = translator.translate_text(sources, greedy);
  for (size_t i = 0; i < sources.size(); ++i) {
    CHECK(out[i].hypotheses.at(0).ids == golden["greedy"]["outputs"][i]["ids"].get<std::vector<uint32_t>>());
  }
  testing::require_no_validation_messages(context);
}

// The shipped demo model (real weights, 8k vocabulary, d_model 256) on held-out test segments, against
// tools/reference/make_shipped_golden.py (segments without near-ties, so every token must match).
TEST_CASE("the shipped en-de model translates test segments like the reference", "[translate]") {
  const json golden = testing::read_test_json("en-de-golden.json");
  std::vector<std::string> sources;
  for (const auto& segment : golden["segments"]) sources.push_back(segment["source"].get<std::string>());
  const uint32_t max_length = golden["max_length"].get<uint32_t>();

  Context& context = testing::context_for();
  // f32 matrices: greedy and beam; f16 matrices (the file's own precision): greedy, which is enough to
  // catch a wrong f16 path and keeps the test short under validation layers.
  for (Element precision : {Element::f32, Element::f16}) {
    INFO((precision == Element::f16 ? "f16" : "f32"));
    Engine translator(context, std::string(VKFORMER_MODELS) + "/en-de", false, precision);
    const auto greedy = translator.translate_text(sources, {.beam = 1, .max_length = max_length});
    for (size_t i = 0; i < sources.size(); ++i) {
      const auto& want = golden["segments"][i];
      INFO(sources[i]);
      CHECK(translator.encode(sources[i]) == want["source_ids"].get<std::vector<uint32_t>>());
      CHECK(greedy[i].hypotheses.at(0).ids == want["greedy"]["ids"].get<std::vector<uint32_t>>());
      CHECK(greedy[i].hypotheses.at(0).text == want["greedy"]["text"].get<std::string>());
    }
    if (precision == Element::f32) {
      const auto beam = translator.translate_text(
          sources, {.beam = golden["beam"]["beam_size"].get<uint32_t>(),
                    .length_penalty = golden["beam"]["length_penalty"].get<float>(), .max_length = max_length});
      for (size_t i = 0; i < sources.size(); ++i) {
        const auto& want = golden["segments"][i]["beam"];
        INFO(sources[i]);
        CHECK(beam[i].hypotheses.at(0).ids == want["ids"].get<std::vector<uint32_t>>());
        CHECK(std::abs(*beam[i].hypotheses.at(0).score - want["score"].get<double>()) <= 1e-3);
      }
    }
    testing::require_no_validation_messages(context);
  }
}

TEST_CASE("a runaway translation ends at its own length cap, whatever is batched with it", "[translate]") {
  // "old" makes the tiny model repeat a token without end: it stops at 2 x its source bucket + 32 steps
  // (40) alone, and must stop there too beside a long sentence, whose bucket is larger.
  Context& context = testing::context_for();
  Engine translator(context, std::string(VKFORMER_TEST_DATA) + "/tiny_swish_shared");
  const std::string runaway = "old";
  const std::string long_line = "My sister works in a hospital in the city and reads a good book every evening.";
  for (const uint32_t beam : {1u, 4u}) {
    INFO("beam " << beam);
    const DecodeOptions options{.beam = beam, .max_length = 300};
    const auto alone = translator.translate_text({runaway}, options).at(0).hypotheses.at(0);
    const auto batched = translator.translate_text({runaway, long_line}, options).at(0).hypotheses.at(0);
    CHECK(alone.ids.size() == 40);
    CHECK(batched.ids == alone.ids);
    // Batch sizes take different matmul paths under some tunings: the same tokens, scores within rounding.
    REQUIRE(batched.score);
    CHECK(*batched.score == Approx(*alone.score).margin(1e-4));
  }
  testing::require_no_validation_messages(context);
}
