// Argos Translate packages: metadata.json, the .argosmodel zip unpacked safely and once into the package
// cache, and locate_model, which opens any model path. Test data: tests/data/packages, made by
// tools/packages/make_test_package.py.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <thread>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "test_cli.hpp"
#include "test_context.hpp"
#include "vkformer/error.hpp"
#include "vkformer/model/package.hpp"

using namespace vkformer;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const fs::path kPackages = fs::path(VKFORMER_TEST_DATA) / "packages";
const fs::path kPackage = kPackages / "translate-en_de-tiny.argosmodel";

// VKFORMER_CACHE_DIR for the scope of a test, restored after: the pipeline cache of the other tests uses it.
class CacheDirectory {
 public:
  explicit CacheDirectory(const fs::path& path) {
    if (const char* old = std::getenv("VKFORMER_CACHE_DIR")) old_ = old;
    ::setenv("VKFORMER_CACHE_DIR", path.c_str(), 1);
  }
  ~CacheDirectory() {
    if (old_) {
      ::setenv("VKFORMER_CACHE_DIR", old_->c_str(), 1);
    } else {
      ::unsetenv("VKFORMER_CACHE_DIR");
    }
  }
  CacheDirectory(const CacheDirectory&) = delete;
  CacheDirectory& operator=(const CacheDirectory&) = delete;

 private:
  std::optional<std::string> old_;
};

void write_bytes(const fs::path& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

// Names in the package cache that are not finished packages: temporary directories left behind.
std::vector<std::string> leftovers(const fs::path& cache) {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(cache / "packages", error)) {
    if (entry.path().filename().string().starts_with(".")) names.push_back(entry.path().filename().string());
  }
  return names;
}

uint32_t read_u32(const std::string& bytes, size_t at) {
  uint32_t value = 0;
  std::memcpy(&value, bytes.data() + at, 4);
  return value;
}

void write_u32(std::string& bytes, size_t at, uint32_t value) { std::memcpy(bytes.data() + at, &value, 4); }

// The offsets of the zip's central directory records ("PK\1\2").
std::vector<size_t> central_records(const std::string& zip) {
  std::vector<size_t> records;
  for (size_t at = zip.find("PK\x01\x02"); at != std::string::npos; at = zip.find("PK\x01\x02", at + 4)) {
    records.push_back(at);
  }
  return records;
}

std::string record_name(const std::string& zip, size_t record) {
  uint16_t length = 0;
  std::memcpy(&length, zip.data() + record + 28, 2);
  return zip.substr(record + 46, length);
}

std::string error_of(const std::function<void()>& run) {
  try {
    run();
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

}  // namespace

TEST_CASE("an .argosmodel is unpacked once into the package cache and reused", "[package]") {
  const testing::TempDir temporary;
  const CacheDirectory cache(temporary.path() / "cache");
  const auto root = unpacked_package(kPackage);
  // argos-train zips one directory: the package is that directory.
  CHECK(root.filename() == "translate-en_de-tiny");
  CHECK(root.parent_path().parent_path() == temporary.path() / "cache" / "packages");
  CHECK(root.parent_path().filename().string().starts_with(
      fmt::format("translate-en_de-tiny-{}-", fs::file_size(kPackage))));
  for (const char* file : {"metadata.json", "README.md", "sentencepiece.model", "model/model.bin", "model/config.json",
                           "model/shared_vocabulary.json", "stanza/resources.json"}) {
    INFO(file);
    CHECK(fs::is_regular_file(root / file));
  }
  CHECK(fs::file_size(root / "model/config.json") > 100);

  // Reused: a file added to the unpacked copy is still there the next time.
  write_bytes(root / "marker", "x");
  CHECK(unpacked_package(kPackage) == root);
  CHECK(fs::exists(root / "marker"));
  CHECK(leftovers(temporary.path() / "cache").empty());

  // Another archive under the same name is another package.
  const auto renamed = temporary.path() / kPackage.filename();
  fs::copy_file(kPackages / "bad" / "no-model.argosmodel", renamed);
  const auto other = unpacked_package(renamed);
  CHECK(other.parent_path() != root.parent_path());
  CHECK_FALSE(fs::exists(other / "model"));
}

TEST_CASE("processes unpacking the same package at once all see a whole package", "[package]") {
  const testing::TempDir temporary;
  const CacheDirectory cache(temporary.path() / "cache");
  std::vector<fs::path> roots(4);
  std::vector<std::string> errors(roots.size());
  {
    std::vector<std::thread> threads;
    for (size_t i = 0; i < roots.size(); ++i) {
      threads.emplace_back([&, i] {
        try {
          roots[i] = unpacked_package(kPackage);
        } catch (const Error& error) {
          errors[i] = error.what();
        }
      });
    }
    for (auto& thread : threads) thread.join();
  }
  for (size_t i = 0; i < roots.size(); ++i) {
    INFO(errors[i]);
    CHECK(errors[i].empty());
    CHECK(roots[i] == roots[0]);
  }
  CHECK(fs::file_size(roots[0] / "model/model.bin") > 1000);
  CHECK(leftovers(temporary.path() / "cache").empty());
}

TEST_CASE("metadata.json: the fields argostranslate reads, type-checked", "[package]") {
  const auto parse = [](const std::string& text) { return parse_argos_metadata({"pkg/metadata.json", text}); };
  const auto package = parse(R"({"package_version": "1.9", "argos_version": "1.9.0", "from_code": "en",
                                 "from_name": "English", "to_code": "de", "to_name": "German",
                                 "target_prefix": "__de__", "links": ["https://example.com/x.argosmodel"]})");
  CHECK(package.from_code == "en");
  CHECK(package.to_code == "de");
  CHECK(package.from_name == "English");
  CHECK(package.to_name == "German");
  CHECK(package.package_version == "1.9");
  CHECK(package.argos_version == "1.9.0");
  CHECK(package.target_prefix == "__de__");
  CHECK(package.type == "translate");
  // Optional fields may be missing or null, as argostranslate's metadata.get() allows.
  const auto minimal = parse(R"({"from_code": "en", "to_code": "de", "target_prefix": null})");
  CHECK(minimal.target_prefix.empty());
  CHECK(minimal.package_version.empty());

  struct Case {
    std::string text;
    std::vector<std::string> parts;
  };
  for (const auto& c : std::vector<Case>{
           {R"({"to_code": "de"})", {"pkg/metadata.json", "from_code is missing"}},
           {R"({"from_code": "en", "to_code": ""})", {"to_code is empty"}},
           {R"({"from_code": 7, "to_code": "de"})", {"from_code is 7", "must be a string"}},
           {R"({"from_code": "en", "to_code": "de", "target_prefix": ["__de__"]})", {"target_prefix is [\"__de__\"]"}},
           {R"({"from_code": "en", "to_code": "de", "type": "sbd"})", {"type is \"sbd\"", "translate"}},
           {R"({"from_code": "en", "to_code": "de", "from_name": ")" + std::string("\xff") + "\"}",
            {"not valid JSON", "UTF-8"}},
           {R"(["en", "de"])", {"pkg/metadata.json", "not a JSON object"}},
           {R"({"from_code": "en",)", {"pkg/metadata.json", "not valid JSON"}},
       }) {
    INFO(c.text);
    const auto message = error_of([&] { parse(c.text); });
    CHECK(message.find('\n') == std::string::npos);
    for (const auto& part : c.parts) CHECK_THAT(message, Catch::Contains(part));
  }
}

TEST_CASE("an Argos package, zipped or unpacked, is located with its tokenizer and decoding defaults", "[package]") {
  const testing::TempDir temporary;
  const CacheDirectory cache(temporary.path() / "cache");
  const json golden = testing::read_test_json("packages/translate-en_de-tiny.json");
  const auto zipped = locate_model(kPackage);
  REQUIRE(zipped.package);
  const auto root = zipped.package->directory;
  const auto unpacked = locate_model(root);
  for (const auto* location : {&zipped, &unpacked}) {
    INFO(location->given);
    CHECK(location->format == ModelFormat::ctranslate2);
    CHECK(location->model_directory == root / "model");
    REQUIRE(location->package);
    const auto& package = *location->package;
    CHECK(package.directory == root);
    CHECK(package.from_code == "en");
    CHECK(package.to_code == "de");
    CHECK(package.target_prefix == "__de__");
    CHECK(package.sentence_splitter == "stanza");
    CHECK(package.has_readme);
    REQUIRE(location->decoding);
    CHECK(location->decoding->beam == 4);
    CHECK(location->decoding->length_penalty == Approx(0.2f));
    CHECK(location->decoding->max_decoding_length == 256);
    REQUIRE(location->model);
    REQUIRE(location->tokenizer);
    CHECK(location->tokenizer->kind() == TokenizerKind::sentencepiece);
    CHECK(location->tokenizer->target_prefix().size() == 1);
    const auto sentences = golden["sentences"].get<std::vector<std::string>>();
    for (size_t i = 0; i < sentences.size(); ++i) {
      CHECK(location->tokenizer->encode(sentences[i]) == golden["source_ids"][i].get<std::vector<uint32_t>>());
    }
    const auto& translation = golden["translations_argos_options"][0];
    CHECK(location->tokenizer->decode(translation["ids"].get<std::vector<uint32_t>>()) == translation["text"]);
  }
  CHECK(zipped.package->archive == kPackage);
  CHECK(unpacked.package->archive.empty());

  // --tokenized: the package's vocabulary tokens, its target prefix still forced.
  const auto tokenized = locate_model(kPackage, true);
  CHECK(tokenized.tokenizer->kind() == TokenizerKind::tokens);
  CHECK(tokenized.tokenizer->target_prefix() == zipped.tokenizer->target_prefix());
  CHECK(tokenized.tokenizer->encode("\u2581file \u2581not") ==
        std::vector<uint32_t>{golden["source_ids"][1][4], golden["source_ids"][1][10]});

  // The package's model/ alone is a CTranslate2 directory without SentencePiece: pre-tokenized, no package.
  const auto bare = locate_model(root / "model");
  CHECK(bare.format == ModelFormat::ctranslate2);
  CHECK_FALSE(bare.package);
  CHECK_FALSE(bare.decoding);
  CHECK(bare.tokenizer->kind() == TokenizerKind::tokens);
  CHECK(bare.tokenizer->target_prefix().empty());

  // A Marian directory is what it was.
  const auto marian = locate_model(fs::path(VKFORMER_TEST_DATA) / "tiny_swish_shared");
  CHECK(marian.format == ModelFormat::marian);
  CHECK(marian.tokenizer->kind() == TokenizerKind::marian);
  CHECK_FALSE(marian.package);
}

TEST_CASE("a bad Argos package is one error naming the archive and the entry", "[package]") {
  const testing::TempDir temporary;
  const auto cache_root = temporary.path() / "cache";
  const CacheDirectory cache(cache_root);
  const std::string good = testing::read_bytes(kPackage);

  const auto truncated = temporary.path() / "truncated.argosmodel";
  write_bytes(truncated, good.substr(0, good.size() - 40));
  const auto text = temporary.path() / "text.argosmodel";
  write_bytes(text, "metadata.json\n");
  const auto empty = temporary.path() / "empty.argosmodel";
  write_bytes(empty, "");

  // The same CRC patched into the local header and the central directory: the data no longer matches it.
  std::string crc_patched = good;
  for (size_t record : central_records(good)) {
    if (record_name(good, record) != "translate-en_de-tiny/metadata.json") continue;
    const uint32_t crc = read_u32(good, record + 16);
    for (size_t at = crc_patched.find(std::string(reinterpret_cast<const char*>(&crc), 4)); at != std::string::npos;
         at = crc_patched.find(std::string(reinterpret_cast<const char*>(&crc), 4), at + 4)) {
      write_u32(crc_patched, at, crc ^ 1);
    }
  }
  const auto bad_crc = temporary.path() / "crc.argosmodel";
  write_bytes(bad_crc, crc_patched);

  // Every entry claims 3.75 GiB: 45 GiB in all, past the limit before anything is written.
  std::string huge = good;
  for (size_t record : central_records(good)) write_u32(huge, record + 24, 0xf0000000u);
  const auto bomb = temporary.path() / "bomb.argosmodel";
  write_bytes(bomb, huge);

  const auto fifo = temporary.path() / "fifo.argosmodel";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);

  struct Case {
    fs::path path;
    std::vector<std::string> parts;
  };
  const auto bad = kPackages / "bad";
  for (const auto& c : std::vector<Case>{
           {bad / "zip-slip.argosmodel", {"zip-slip.argosmodel", "p/../../escaped.txt", "'..'", "refused"}},
           {bad / "absolute.argosmodel", {"/tmp/vkformer-absolute.txt", "absolute path"}},
           {bad / "symlink.argosmodel", {"p/model/link", "symbolic link"}},
           {bad / "duplicate.argosmodel", {"p/metadata.json", "appears twice"}},
           {bad / "no-metadata.argosmodel", {"no-metadata.argosmodel", "no metadata.json"}},
           {bad / "bad-json.argosmodel", {"metadata.json", "not valid JSON"}},
           {bad / "no-model.argosmodel", {"no-model.argosmodel", "no model/ directory"}},
           {bad / "no-sentencepiece.argosmodel", {"no-sentencepiece.argosmodel", "no sentencepiece.model"}},
           {truncated, {"truncated.argosmodel", "not a zip archive", "truncated"}},
           {text, {"text.argosmodel", "not a zip archive"}},
           {empty, {"empty.argosmodel", "not a zip archive"}},
           {bad_crc, {"crc.argosmodel", "translate-en_de-tiny/metadata.json", "CRC"}},
           {bomb, {"bomb.argosmodel", "unpacked size", "17179869184"}},
           {fifo, {"fifo.argosmodel", "FIFO"}},
           {temporary.path() / "missing.argosmodel", {"missing.argosmodel", "does not exist"}},
       }) {
    INFO(c.path);
    const auto message = error_of([&] { locate_model(c.path); });
    CHECK(message.find('\n') == std::string::npos);
    CHECK(message.size() < 400);
    for (const auto& part : c.parts) CHECK_THAT(message, Catch::Contains(part));
  }
  // Nothing escaped, and no half-unpacked package was left behind.
  CHECK_FALSE(fs::exists(cache_root / "escaped.txt"));
  CHECK_FALSE(fs::exists(temporary.path() / "escaped.txt"));
  CHECK_FALSE(fs::exists("/tmp/vkformer-absolute.txt"));
  CHECK(leftovers(cache_root).empty());
}

TEST_CASE("vkformer info describes a Marian directory and an Argos package", "[package][cli]") {
  const testing::TempDir temporary;
  const auto environment = fmt::format("VKFORMER_CACHE_DIR='{}'", temporary.path().string());
  const auto marian =
      testing::run_cli(fmt::format("info --json --model '{}/tiny_gelu_separate'", VKFORMER_TEST_DATA), "", environment);
  REQUIRE(marian.exit_code == 0);
  REQUIRE(marian.out.size() == 1);
  const auto m = json::parse(marian.out[0]);
  CHECK(m["format"] == "marian");
  CHECK(m["languages"]["source"] == "en");
  CHECK(m["architecture"]["d_model"] == 32);
  CHECK(m["architecture"]["norm"] == "post");
  CHECK(m["architecture"]["activation"] == "gelu");
  // Every tensor of model.safetensors: its whole data section.
  const testing::SafetensorsFile file(fs::path(VKFORMER_TEST_DATA) / "tiny_gelu_separate/model.safetensors");
  CHECK(m["weights"]["bytes"] == file.data.size());
  CHECK(m["tokenizer"]["kind"] == "marian");
  CHECK(m["decoding"]["source"] == "model");

  const auto package = testing::run_cli(fmt::format("info --json --model '{}'", kPackage.string()), "", environment);
  REQUIRE(package.exit_code == 0);
  REQUIRE(package.out.size() == 1);
  const auto p = json::parse(package.out[0]);
  CHECK(p["format"] == "ctranslate2");
  CHECK(p["binary_version"] == 6);
  CHECK(p["spec"] == "TransformerSpec");
  CHECK(p["languages"]["source"] == "en");
  CHECK(p["languages"]["target"] == "de");
  CHECK(p["package"]["sentence_splitter"] == "stanza");
  CHECK(p["architecture"]["norm"] == "pre");
  CHECK(p["architecture"]["activation"] == "relu");
  CHECK(p["architecture"]["encoder_layers"] == 2);
  // Argos models are int8: every matrix and embedding stays int8, with its scales.
  CHECK(p["weights"]["types"].size() == 1);
  CHECK(p["weights"]["types"]["i8"]["tensors"] > 0);
  CHECK(p["tokenizer"]["kind"] == "sentencepiece");
  CHECK(p["tokenizer"]["target_prefix"] == "__de__");
  CHECK(p["decoding"]["beam"] == 4);
  CHECK(p["decoding"]["length_penalty"].get<double>() == Approx(0.2));

  const auto text = testing::run_cli(fmt::format("info --model '{}'", kPackage.string()), "", environment);
  REQUIRE(text.exit_code == 0);
  CHECK_THAT(text.out.at(1), Catch::StartsWith("format: CTranslate2 model.bin, binary version 6, TransformerSpec"));
  const auto bad = testing::run_cli(
      fmt::format("info --model '{}'", (kPackages / "bad" / "zip-slip.argosmodel").string()), "", environment);
  CHECK(bad.exit_code == 1);
  REQUIRE(bad.err.size() == 1);
  CHECK_THAT(bad.err[0], Catch::StartsWith("vkformer: error: ") && Catch::Contains("'..'"));
}
