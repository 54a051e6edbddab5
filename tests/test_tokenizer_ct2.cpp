// The tokenizer of CTranslate2 model directories: Marian's spm files (ids must be MarianTokenizer's), an Argos
// package's sentencepiece.model (ids and text must be what argostranslate hands CTranslate2 and makes of its
// output: tests/data/packages/translate-en_de-tiny.json, made by tools/packages/make_test_package.py) and
// pre-tokenized input.
#include <algorithm>
#include <filesystem>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "test_cli.hpp"
#include "test_context.hpp"
#include "vkformer/error.hpp"
#include "vkformer/model/ctranslate2.hpp"
#include "vkformer/model/package.hpp"
#include "vkformer/model/tokenizer.hpp"

using namespace vkformer;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const fs::path kPackages = fs::path(VKFORMER_TEST_DATA) / "packages";

uint32_t id_of(const std::vector<std::string>& tokens, const std::string& token) {
  const auto found = std::find(tokens.begin(), tokens.end(), token);
  REQUIRE(found != tokens.end());
  return uint32_t(found - tokens.begin());
}

// What the CTranslate2 reader makes of a config.json holding these tokens.
ModelConfig config_for(const Vocabularies& vocabularies, const std::string& start) {
  ModelConfig config;
  config.eos_id = id_of(vocabularies.target, "</s>");
  config.unk_id = id_of(vocabularies.target, "<unk>");
  config.decoder_start_id = id_of(vocabularies.target, start);
  config.bos_id = config.decoder_start_id;
  config.add_source_eos = false;
  return config;
}

std::vector<std::vector<uint32_t>> id_lists(const json& value) {
  std::vector<std::vector<uint32_t>> lists;
  for (const auto& ids : value) lists.push_back(ids.get<std::vector<uint32_t>>());
  return lists;
}

}  // namespace

TEST_CASE("a CTranslate2 directory with Marian's spm files tokenizes as MarianTokenizer", "[tokenizer]") {
  const auto directory = kPackages / "ct2-tiny_swish_shared";
  const auto vocabularies = read_ctranslate2_vocabularies(directory);
  // TransformersConverter writes add_source_eos false (the caller appends </s>, as MarianTokenizer does),
  // decoder_start_token </s>, and leaves <pad> out of the vocabulary.
  const Tokenizer tokenizer(
      vocabularies, config_for(vocabularies, "</s>"),
      {.kind = TokenizerKind::marian, .source_spm = directory / "source.spm", .target_spm = directory / "target.spm"});
  const Tokenizer marian(fs::path(VKFORMER_TEST_DATA) / "tiny_swish_shared");
  const json golden = testing::read_test_json("tiny_swish_shared/golden.json");
  const auto sources = golden["sources"].get<std::vector<std::string>>();
  const auto expected = id_lists(golden["source_ids"]);
  for (size_t i = 0; i < sources.size(); ++i) {
    INFO(sources[i]);
    CHECK(tokenizer.encode(sources[i]) == expected[i]);
  }
  for (const std::string text : {">>de<< Hello", "", ">>xx<< unknown tag", "a  b\tc"}) {
    CHECK(tokenizer.encode(text) == marian.encode(text));
  }
  for (const auto& output : golden["greedy"]["outputs"]) {
    CHECK(tokenizer.decode(output["ids"].get<std::vector<uint32_t>>()) == output["text"].get<std::string>());
  }
  CHECK(tokenizer.kind() == TokenizerKind::marian);
  CHECK(tokenizer.target_prefix().empty());
  // CTranslate2's Marian converter (add_source_eos true) must not get </s> twice.
  auto with_eos = config_for(vocabularies, "</s>");
  with_eos.add_source_eos = true;
  const Tokenizer converted(
      vocabularies, with_eos,
      {.kind = TokenizerKind::marian, .source_spm = directory / "source.spm", .target_spm = directory / "target.spm"});
  CHECK(converted.encode(sources[1]) == expected[1]);
}

TEST_CASE("an Argos package's sentencepiece.model gives the ids and text argostranslate does", "[tokenizer]") {
  const testing::TempDir temporary;
  unpack_zip(kPackages / "translate-en_de-tiny.argosmodel", temporary.path() / "unpacked");
  const auto root = temporary.path() / "unpacked" / "translate-en_de-tiny";
  const auto vocabularies = read_ctranslate2_vocabularies(root / "model");
  const json golden = testing::read_test_json("packages/translate-en_de-tiny.json");
  const auto prefix = golden["target_prefix"].get<std::string>();
  const auto spm = root / "sentencepiece.model";
  const Tokenizer tokenizer(vocabularies, config_for(vocabularies, "<s>"),
                            {.kind = TokenizerKind::sentencepiece,
                             .source_spm = spm,
                             .target_spm = spm,
                             .target_prefix = {prefix},
                             .prefix_origin = "metadata.json"});
  const auto sentences = golden["sentences"].get<std::vector<std::string>>();
  const auto expected = id_lists(golden["source_ids"]);
  REQUIRE(sentences.size() == expected.size());
  for (size_t i = 0; i < sentences.size(); ++i) {
    INFO(sentences[i]);
    CHECK(tokenizer.encode(sentences[i]) == expected[i]);
  }
  // Pieces the vocabulary does not hold (an emoji, CJK, left-out rare pieces) are unk, as CTranslate2 maps them.
  const auto unk = id_of(vocabularies.source, "<unk>");
  CHECK(std::count(expected[4].begin(), expected[4].end(), unk) >= 2);
  CHECK(tokenizer.unk_id() == unk);

  REQUIRE(tokenizer.target_prefix() == std::vector<uint32_t>{id_of(vocabularies.target, prefix)});
  const auto& translations = golden["translations_argos_options"];
  REQUIRE(translations.size() >= 5);
  for (const auto& translation : translations) {
    auto ids = translation["ids"].get<std::vector<uint32_t>>();
    REQUIRE(ids.front() == tokenizer.target_prefix().front());  // CTranslate2 returns the prefix
    CHECK(tokenizer.decode(ids) == translation["text"].get<std::string>());
    // vkformer's hypotheses end with </s>, which is not text.
    ids.push_back(id_of(vocabularies.target, "</s>"));
    CHECK(tokenizer.decode(ids) == translation["text"].get<std::string>());
  }
  // A prefix that is not at the start is text like any other token; unk and the start token are dropped.
  const auto word = id_of(vocabularies.target, "\u2581file");
  CHECK(tokenizer.decode({word, tokenizer.target_prefix()[0]}) == "file__de__");
  CHECK(tokenizer.decode({unk, word, id_of(vocabularies.target, "<s>")}) == "file");
  CHECK(tokenizer.decode({}) == "");
}

TEST_CASE("pre-tokenized input: tokens separated by spaces in, joined by spaces out", "[tokenizer]") {
  const Vocabularies vocabularies{.source = {"<unk>", "<s>", "</s>", "<blank>", "\u2581Hello", "wor", "ld", "."},
                                  .target = {"<unk>", "<s>", "</s>", "\u2581Hallo", "Welt", "__de__"}};
  auto config = config_for(vocabularies, "<s>");
  const Tokenizer plain(vocabularies, config, {.kind = TokenizerKind::tokens});
  CHECK(plain.encode("\u2581Hello wor ld .") == std::vector<uint32_t>{4, 5, 6, 7});
  CHECK(plain.encode("  wor\t\tld  ") == std::vector<uint32_t>{5, 6});
  CHECK(plain.encode("Hello xyz") == std::vector<uint32_t>{0, 0});  // not in the source vocabulary: unk
  CHECK(plain.encode("").empty());
  CHECK(plain.encode("   ").empty());
  CHECK_THROWS_WITH(plain.encode("wor \xff"), Catch::Contains("not valid UTF-8"));
  // Separate vocabularies: ids on the way out are target ids; unk is shown, as CTranslate2 returns it.
  CHECK(plain.decode({3, 0, 4, 2}) == "\u2581Hallo <unk> Welt");
  CHECK(plain.decode({2}) == "");

  // bos and eos as config.json's add_source_bos / add_source_eos say, found in the source vocabulary by text.
  config.add_source_bos = config.add_source_eos = true;
  const Tokenizer marked(vocabularies, config, {.kind = TokenizerKind::tokens, .target_prefix = {"__de__"}});
  CHECK(marked.encode("wor") == std::vector<uint32_t>{1, 5, 2});
  CHECK(marked.encode("") == std::vector<uint32_t>{1, 2});
  CHECK(marked.eos_id() == 2);
  CHECK(marked.target_prefix() == std::vector<uint32_t>{5});
  CHECK(marked.decode({5, 3, 4, 2}) == "\u2581Hallo Welt");
}

TEST_CASE("pre-tokenized input (--tokenized) on a Marian directory takes vocab.json's pieces", "[tokenizer]") {
  const auto directory = fs::path(VKFORMER_TEST_DATA) / "tiny_swish_shared";
  const Tokenizer tokenized(directory, true);
  const Tokenizer marian(directory);
  CHECK(tokenized.kind() == TokenizerKind::tokens);
  const std::string text = "Thank you very much.";
  // Marian's own pieces, written out, give Marian's ids (eos appended as MarianTokenizer does).
  const auto ids = marian.encode(text);
  const json vocab = json::parse(testing::read_bytes(directory / "vocab.json"));
  std::vector<std::string> pieces(vocab.size());
  for (const auto& [piece, id] : vocab.items()) pieces[id.get<uint32_t>()] = piece;
  std::string joined;
  for (size_t i = 0; i + 1 < ids.size(); ++i) joined += (i ? " " : "") + pieces[ids[i]];
  CHECK(tokenized.encode(joined) == ids);
  CHECK(tokenized.decode(ids) == joined);
  CHECK(tokenized.encode("no_such_piece").front() == marian.unk_id());
}

TEST_CASE("a CTranslate2 tokenizer whose parts do not fit is one error naming them", "[tokenizer]") {
  const Vocabularies vocabularies{.source = {"<unk>", "</s>", "a"}, .target = {"<unk>", "</s>", "<s>", "b"}};
  const auto config = config_for(vocabularies, "<s>");
  const TokenizerSetup tokens{.kind = TokenizerKind::tokens, .vocabulary_origin = "some/model"};
  auto check = [](const auto& make, const std::vector<std::string>& parts) {
    try {
      make();
      FAIL("no error");
    } catch (const Error& error) {
      const std::string message = error.what();
      CHECK(message.find('\n') == std::string::npos);
      for (const auto& part : parts) CHECK_THAT(message, Catch::Contains(part));
    }
  };
  check(
      [&] {
        Tokenizer made(
            vocabularies, config,
            {.kind = TokenizerKind::tokens, .target_prefix = {"__de__"}, .prefix_origin = "pkg/metadata.json"});
      },
      {"pkg/metadata.json", "target_prefix", "__de__", "4-token target vocabulary"});
  auto bad_eos = config;
  bad_eos.eos_id = 9;
  check([&] { Tokenizer made(vocabularies, bad_eos, tokens); }, {"some/model", "eos id 9", "4-token"});
  auto bos = config;
  bos.add_source_bos = true;  // <s> is a target token only
  check([&] { Tokenizer made(vocabularies, bos, tokens); },
        {"some/model", "source vocabulary has no bos token", "<s>"});
  check(
      [&] {
        Tokenizer made(
            vocabularies, config,
            {.kind = TokenizerKind::sentencepiece, .source_spm = "missing.model", .target_spm = "missing.model"});
      },
      {"missing.model"});
}

TEST_CASE("CTranslate2 directories without SentencePiece round-trip CTranslate2's own tokens", "[tokenizer]") {
  // tests/data/ctranslate2/goldens.json: per model, source tokens and CTranslate2's greedy output tokens.
  const json goldens = testing::read_test_json("ctranslate2/goldens.json");
  REQUIRE(goldens.size() >= 5);
  for (const auto& [model, cases] : goldens.items()) {
    INFO(model);
    const auto directory = fs::path(VKFORMER_TEST_DATA) / "ctranslate2" / model;
    const auto location = locate_model(directory);
    REQUIRE(location.tokenizer->kind() == TokenizerKind::tokens);
    const auto& config = location.model->config();
    const auto vocabularies = read_ctranslate2_vocabularies(directory);
    for (const auto& c : cases) {
      const auto source = c["source"].get<std::vector<std::string>>();
      std::string text;
      for (const auto& token : source) text += (text.empty() ? "" : " ") + token;
      const auto ids = location.tokenizer->encode(text);
      REQUIRE(ids.size() == source.size() + config.add_source_bos + config.add_source_eos);
      for (size_t i = 0; i < source.size(); ++i) {
        CHECK(vocabularies.source.at(ids[i + config.add_source_bos]) == source[i]);
      }
      // Generated ids as the engine returns them (ending with </s>) print as CTranslate2 returns its tokens.
      const auto output = c["greedy"].get<std::vector<std::string>>();
      std::vector<uint32_t> generated;
      for (const auto& token : output) generated.push_back(id_of(vocabularies.target, token));
      generated.push_back(config.eos_id);
      std::string expected;
      for (const auto& token : output) expected += (expected.empty() ? "" : " ") + token;
      CHECK(location.tokenizer->decode(generated) == expected);
    }
  }
}
