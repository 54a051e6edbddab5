// The public API as a program that uses the package sees it: compiled as C++17 with include/ alone on its
// include path (no internal header, no Vulkan-Hpp definitions) and linked with vkformer::vkformer, so a
// shared libvkformer is checked to export what the headers declare.
#include <vkformer/vkformer.hpp>

// Nothing the public headers include may bring in the libraries behind them.
#if defined(VULKAN_HPP) || defined(VULKAN_H_)
#error "a public header includes vulkan.hpp or vulkan.h"
#endif
#if defined(FMT_VERSION)
#error "a public header includes fmt"
#endif
#if defined(NLOHMANN_JSON_VERSION_MAJOR)
#error "a public header includes nlohmann/json"
#endif
#if defined(SENTENCEPIECE_PROCESSOR_H_)
#error "a public header includes SentencePiece"
#endif

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

namespace {

const std::filesystem::path kData = VKFORMER_TEST_DATA;
const std::filesystem::path kTiny = kData / "tiny_swish_shared";

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream file(path);
  REQUIRE(file.good());
  return nlohmann::json::parse(file);
}

// The message of the vkformer::Error `call` throws; fails when it throws nothing or something else.
template <typename Call>
std::string error_of(Call&& call) {
  try {
    call();
  } catch (const vkformer::Error& e) {
    return e.what();
  } catch (...) {
    FAIL("not a vkformer::Error");
  }
  FAIL("no error");
  return {};
}

// C++17: no designated initializers.
vkformer::TranslatorOptions tokenized_input() {
  vkformer::TranslatorOptions options;
  options.tokenized = true;
  return options;
}

vkformer::TranslatorOptions on_device(const std::string& device) {
  vkformer::TranslatorOptions options;
  options.device = device;
  return options;
}

vkformer::TranslatorOptions with_precision(vkformer::Precision precision) {
  vkformer::TranslatorOptions options;
  options.precision = precision;
  return options;
}

}  // namespace

TEST_CASE("public API: version and devices", "[public]") {
  CHECK(std::string(vkformer::version()) == VKFORMER_EXPECTED_VERSION);
  const auto devices = vkformer::devices();
  REQUIRE_FALSE(devices.empty());
  for (size_t i = 0; i < devices.size(); ++i) {
    CHECK(devices[i].index == i);
    CHECK_FALSE(devices[i].name.empty());
    CHECK_FALSE(devices[i].vendor.empty());
    CHECK(std::count(devices[i].api_version.begin(), devices[i].api_version.end(), '.') == 2);
  }
}

TEST_CASE("public API: translate_tokens gives CTranslate2's tokens for its own models and packages", "[public]") {
  // tools/ctranslate2/make_test_models.py: translate_batch's output for token input, greedy and beam 4.
  const auto goldens = read_json(kData / "ctranslate2/goldens.json");
  for (const char* variant : {"post_relu_shared", "pre_gelu_separate"}) {
    INFO(variant);
    const vkformer::Translator translator(kData / "ctranslate2" / variant);
    std::vector<std::vector<std::string>> sources;
    for (const auto& c : goldens.at(variant)) sources.push_back(c["source"].get<std::vector<std::string>>());
    for (const uint32_t beam : {1u, 4u}) {
      auto options = translator.model_decode_options();
      options.beam = beam;
      options.min_length = 0;   // as the goldens were made
      options.max_length = 25;  // their max_decoding_length 24, and the start token
      const auto results = translator.translate_tokens(sources, options);
      REQUIRE(results.size() == sources.size());
      for (size_t i = 0; i < sources.size(); ++i) {
        const auto& expected = goldens.at(variant)[i][beam == 1 ? "greedy" : "beam"];
        CHECK(results[i].hypotheses.at(0).tokens == expected.get<std::vector<std::string>>());
        CHECK(results[i].hypotheses.at(0).text.empty());
      }
    }
  }
  // An Argos package with argostranslate's options: CTranslate2 returns the target prefix too.
  const auto package = read_json(kData / "packages/translate-en_de-tiny.json");
  const vkformer::Translator translator(kData / "packages/translate-en_de-tiny.argosmodel");
  CHECK(translator.source_language() == "en");
  CHECK(translator.target_language() == "de");
  std::vector<std::vector<std::string>> sources;
  std::vector<std::string> lines;
  for (const auto& c : package["translations_argos_options"]) {
    sources.push_back(c["source_tokens"].get<std::vector<std::string>>());
  }
  for (const auto& sentence : package["sentences"]) {
    if (!sentence.get<std::string>().empty()) lines.push_back(sentence.get<std::string>());
  }
  REQUIRE(lines.size() == sources.size());
  const auto by_tokens = translator.translate_tokens(sources, translator.model_decode_options());
  const auto by_text = translator.translate_text(lines, translator.model_decode_options());
  for (size_t i = 0; i < sources.size(); ++i) {
    INFO("line " << i + 1);
    const auto& expected = package["translations_argos_options"][i];
    CHECK(by_tokens[i].hypotheses.at(0).tokens == expected["tokens"].get<std::vector<std::string>>());
    CHECK(by_text[i].hypotheses.at(0).text == expected["text"].get<std::string>());
  }
}

TEST_CASE("public API: a Marian model's tokens, as MarianTokenizer makes them, translate as its text", "[public]") {
  const vkformer::Translator translator(kTiny);
  const vkformer::Translator tokenized(kTiny, tokenized_input());  // tokens separated by spaces, eos added
  CHECK(translator.source_language().empty());
  const auto options = translator.model_decode_options();
  const auto as_tokens = tokenized.translate_text({"▁a ▁b", "▁no-such-piece"}, options);
  const auto by_tokens = translator.translate_tokens({{"▁a", "▁b", "</s>"}, {"▁no-such-piece", "</s>"}}, options);
  REQUIRE(by_tokens.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    CHECK(by_tokens[i].source_ids == as_tokens[i].source_ids);
    const auto& hypothesis = by_tokens[i].hypotheses.at(0);
    CHECK(hypothesis.ids == as_tokens[i].hypotheses.at(0).ids);
    std::string joined;
    for (const auto& token : hypothesis.tokens) joined += (joined.empty() ? "" : " ") + token;
    CHECK(joined == as_tokens[i].hypotheses.at(0).text);
  }
  // A token outside the vocabulary is <unk>.
  const auto unknown = translator.translate_tokens({{"<unk>", "</s>"}}, options);
  CHECK(unknown[0].source_ids == by_tokens[1].source_ids);
}

TEST_CASE("public API: every failure is a one-line vkformer::Error", "[public]") {
  const vkformer::Translator translator(kTiny);
  const auto options = translator.model_decode_options();
  CHECK(error_of([&] { translator.translate_text({"fine", "caf\xe9"}, options); }) ==
        "source[1]: input is not valid UTF-8");
  CHECK(error_of([&] { translator.translate_tokens({{"▁a", "</s>"}, {}}, options); }) ==
        "source[1] is an empty token list");
  const std::vector<std::string> many(600, "▁a");
  const auto too_long = error_of([&] { translator.translate_tokens({many}, options); });
  CHECK_THAT(too_long, Catch::StartsWith("source[0]: input of 600 tokens is longer than the model's"));
  auto bad = options;
  bad.beam = 0;
  CHECK_THAT(error_of([&] { translator.translate_text({"a"}, bad); }), Catch::Contains("beam size"));
  const auto missing = error_of([] { vkformer::Translator none(kData / "no-such-model"); });
  CHECK_THAT(missing, Catch::Contains("no-such-model"));
  const auto no_device = error_of([] { vkformer::Translator none(kTiny, on_device("no such device")); });
  CHECK_THAT(no_device, Catch::Contains("no such device"));
  const auto precision = error_of([] { vkformer::Translator none(kTiny, with_precision(vkformer::Precision(42))); });
  CHECK(precision == "precision 42: not a vkformer::Precision");
  for (const auto& message : {too_long, missing, no_device}) CHECK(message.find('\n') == std::string::npos);
  // Still usable after an Error.
  CHECK(translator.translate_text({"▁a"}, options).size() == 1);
}

TEST_CASE("public API: threads share a Translator or open their own, and a Translator moves", "[public]") {
  vkformer::Translator translator(kTiny, with_precision(vkformer::Precision::f32));
  const std::vector<std::string> lines = {"hello world", "a b c", "the quick brown fox", "x"};
  auto options = translator.model_decode_options();
  options.beam = 2;
  const auto expected = translator.translate_text(lines, options);
  std::vector<std::vector<vkformer::Translation>> outputs(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < outputs.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int repeat = 0; repeat < 3; ++repeat) outputs[t] = translator.translate_text(lines, options);
    });
  }
  for (auto& thread : threads) thread.join();
  const auto texts = [](const std::vector<vkformer::Translation>& translations) {
    std::vector<std::string> out;
    for (const auto& translation : translations) out.push_back(translation.hypotheses.at(0).text);
    return out;
  };
  for (const auto& output : outputs) CHECK(texts(output) == texts(expected));
  // A Translator of its own in each thread, opened and used at once, while another thread lists devices.
  std::vector<std::vector<std::string>> own(2);
  threads.clear();
  for (size_t t = 0; t < own.size(); ++t) {
    threads.emplace_back([&, t] {
      const vkformer::Translator mine(kTiny, with_precision(vkformer::Precision::f32));
      own[t] = texts(mine.translate_text(lines, options));
    });
  }
  size_t listed = 0;  // Catch's assertions are for the main thread
  threads.emplace_back([&] {
    for (int repeat = 0; repeat < 3; ++repeat) listed += vkformer::devices().size();
  });
  for (auto& thread : threads) thread.join();
  for (const auto& output : own) CHECK(output == texts(expected));
  CHECK(listed == 3 * vkformer::devices().size());
  const vkformer::Translator moved = std::move(translator);
  CHECK(texts(moved.translate_text(lines, options)) == texts(expected));
  CHECK_FALSE(moved.device_name().empty());
}
