// Memory that adapts instead of failing: a batch whose decoding buffers do not fit is split into batches
// that do, with the same output; only a sentence that does not fit alone is an error.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "test_context.hpp"
#include "vkformer/error.hpp"
#include "vkformer/engine.hpp"

using namespace vkformer;
using nlohmann::json;

namespace {

const std::string kModel = std::string(VKFORMER_TEST_DATA) + "/tiny_swish_shared";

// Counts encoder submits: one per batch.
struct BatchCounter : SubmitObserver {
  uint32_t batches = 0;
  void submitted(const std::string& kind, const translate::Plan&, double) override { batches += kind == "encoder"; }
};

// Translates the golden sources greedy and with the golden beam in one batch of 32 on the shared context,
// then on `context` with `memory_limit`: the second must take several batches and give the same output.
void check_split(Context& context, uint64_t memory_limit) {
  const json golden = testing::read_test_json("tiny_swish_shared/golden.json");
  const auto sources = golden["sources"].get<std::vector<std::string>>();
  const auto& beam = golden["beam"];
  Engine whole_translator(testing::context_for(), kModel);
  Engine split_translator(context, kModel);
  BatchCounter counter;
  split_translator.set_observer(&counter);
  for (const uint32_t beam_size : {1u, beam["beam_size"].get<uint32_t>()}) {
    INFO("beam " << beam_size);
    const DecodeOptions options{.beam = beam_size, .length_penalty = beam["length_penalty"].get<float>(),
                                .max_length = beam["max_length"].get<uint32_t>(), .batch_sentences = 32};
    const auto whole = whole_translator.translate_text(sources, options);
    DecodeOptions limited = options;
    limited.memory_limit = memory_limit;
    counter.batches = 0;
    const auto split = split_translator.translate_text(sources, limited);
    CHECK(counter.batches > 1);
    CHECK(counter.batches < sources.size());  // the short sentences still share batches
    for (size_t i = 0; i < sources.size(); ++i) {
      INFO(sources[i]);
      REQUIRE(split[i].hypotheses.size() == whole[i].hypotheses.size());
      CHECK(split[i].hypotheses[0].ids == whole[i].hypotheses[0].ids);
    }
  }
  testing::require_no_validation_messages(context);
}

}  // namespace

// The tiny model's buffers for its longest golden sentence (51 tokens) take about 110 KiB with beam 4
// and 40 KiB greedy: 150 KiB holds one sentence with beam 4, and a few of the shorter ones.
TEST_CASE("a batch whose buffers exceed DecodeOptions::memory_limit is split", "[translate]") {
  check_split(testing::context_for(), 150 * 1024);
}

// As on a GPU whose storage-buffer range a batch's KV cache exceeds (--beam 8 --batch-size 64 of long
// lines on 128 MiB): the k/v cache of the 5 sentences with beam 4 takes 120 KiB.
TEST_CASE("a batch whose buffers exceed the device's storage-buffer range is split", "[translate]") {
  Context context(ContextOptions{.validation = true, .max_storage_buffer_range = 64 * 1024});
  check_split(context, 0);
}

TEST_CASE("a sentence whose buffers do not fit alone is one clear error", "[translate]") {
  Context& context = testing::context_for();
  Engine translator(context, kModel);
  const DecodeOptions tiny{.beam = 4, .memory_limit = 16 * 1024};
  CHECK_THROWS_WITH(translator.translate_text({"a b c d e f g h i j k l m n o p"}, tiny),
                    Catch::Contains("does not fit") && Catch::Contains("beam 4") && Catch::Contains("KiB"));
  // The translator is still usable after the error.
  CHECK(translator.translate_text({"a b c"}, {.beam = 1}).at(0).hypotheses.size() == 1);
  testing::require_no_validation_messages(context);
}
