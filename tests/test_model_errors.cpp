// A damaged model directory fails with one error naming the file, the field or tensor and the value,
// never a crash, a hang or undefined behaviour: a table of corruptions of the tiny test models.
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "test_context.hpp"
#include "vkformer/error.hpp"
#include "vkformer/half.hpp"
#include "vkformer/model/tokenizer.hpp"
#include "vkformer/engine.hpp"

using namespace vkformer;
namespace fs = std::filesystem;
using nlohmann::json;
using vkformer::testing::read_bytes;
using vkformer::testing::SafetensorsFile;

namespace {

// A copy of a tiny model in a directory of its own, removed afterwards: tests run in parallel.
class ModelCopy {
 public:
  explicit ModelCopy(const std::string& model) {
    static int counter = 0;
    dir_ = fs::temp_directory_path() / fmt::format("vkformer-test-model-{}-{}", ::getpid(), counter++);
    fs::remove_all(dir_);
    fs::copy(fs::path(VKFORMER_TEST_DATA) / model, dir_);
  }
  ~ModelCopy() { fs::remove_all(dir_); }
  ModelCopy(const ModelCopy&) = delete;
  ModelCopy& operator=(const ModelCopy&) = delete;
  const fs::path& dir() const { return dir_; }

 private:
  fs::path dir_;
};

void write_bytes(const fs::path& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

using Corrupt = std::function<void(const fs::path& dir)>;

Corrupt edit_json(const std::string& file, std::function<void(json&)> edit) {
  return [=](const fs::path& dir) {
    json value = json::parse(read_bytes(dir / file));
    edit(value);
    write_bytes(dir / file, value.dump());
  };
}

Corrupt set_json(const std::string& file, const std::string& key, json value) {
  return edit_json(file, [=](json& j) { j[key] = value; });
}

Corrupt write_text(const std::string& file, const std::string& text) {
  return [=](const fs::path& dir) { write_bytes(dir / file, text); };
}

Corrupt replace_text(const std::string& file, const std::string& from, const std::string& to) {
  return [=](const fs::path& dir) {
    std::string text = read_bytes(dir / file);
    const size_t at = text.find(from);
    REQUIRE(at != std::string::npos);
    write_bytes(dir / file, text.replace(at, from.size(), to));
  };
}

// A JSON value nested a million levels deep: a recursive reader or printer overflows the stack.
const std::string kDeep = std::string(1000000, '[') + std::string(1000000, ']');

// The file replaced by something that is not a regular file: reading a FIFO would block forever.
Corrupt replace_with(const std::string& file, const std::string& kind) {
  return [=](const fs::path& dir) {
    fs::remove(dir / file);
    if (kind == "fifo") REQUIRE(::mkfifo((dir / file).c_str(), 0600) == 0);
    if (kind == "directory") fs::create_directory(dir / file);
    if (kind == "device") fs::create_symlink("/dev/zero", dir / file);
  };
}

void write_safetensors(const fs::path& path, const std::string& header, const std::string& data) {
  const uint64_t length = header.size();
  write_bytes(path, std::string(reinterpret_cast<const char*>(&length), 8) + header + data);
}

Corrupt edit_header(std::function<void(json&)> edit) {
  return [=](const fs::path& dir) {
    SafetensorsFile file(dir / "model.safetensors");
    edit(file.header);
    write_safetensors(dir / "model.safetensors", file.header.dump(), file.data);
  };
}

Corrupt set_header(const std::string& tensor, const std::string& field, json value) {
  return edit_header([=](json& header) { header[tensor][field] = value; });
}

// The first element of `tensor` set to `value`, in the tensor's own dtype.
Corrupt poison(const std::string& tensor, float value) {
  return [=](const fs::path& dir) {
    SafetensorsFile file(dir / "model.safetensors");
    const auto& entry = file.header.at(tensor);
    char* element = file.data.data() + entry["data_offsets"][0].get<size_t>();
    const std::string dtype = entry["dtype"];
    uint32_t bits;
    std::memcpy(&bits, &value, 4);
    const uint16_t half = dtype == "F16" ? float_to_half(value) : uint16_t(bits >> 16);
    std::memcpy(element, dtype == "F32" ? static_cast<const void*>(&bits) : &half, dtype == "F32" ? 4 : 2);
    write_safetensors(dir / "model.safetensors", file.header.dump(), file.data);
  };
}

struct BadModel {
  std::string what;
  Corrupt corrupt;
  std::vector<std::string> expected;  // the message names each of these
  std::string model = "tiny_swish_shared";
};

const std::string kFc1 = "model.encoder.layers.0.fc1.weight";
const std::string kBias = "final_logits_bias";  // [1, 157] F32, at data offset 0 in tiny_swish_shared

std::vector<BadModel> vocab_cases() {
  return {
      {"negative id", set_json("vocab.json", "▁you", -1), {"vocab.json", "▁you", "-1"}},
      {"id past uint32", set_json("vocab.json", "▁you", 4000000000ull), {"vocab.json", "▁you", "4000000000"}},
      {"id at vocab_size", set_json("vocab.json", "▁you", 157), {"vocab.json", "▁you", "157", "157-token"}},
      {"duplicated id", set_json("vocab.json", "▁you", 4), {"vocab.json", "▁you", "▁th", "both have id 4"}},
      {"float id", set_json("vocab.json", "▁you", 1e30), {"vocab.json", "▁you", "1e+30"}},
      {"fractional id", set_json("vocab.json", "▁you", 5.5), {"vocab.json", "▁you", "5.5"}},
      {"string id", set_json("vocab.json", "▁you", "5"), {"vocab.json", "▁you", "\"5\""}},
      {"id nested a million levels", replace_text("vocab.json", "\"▁you\": 5", "\"▁you\": " + kDeep),
       {"vocab.json", "▁you", "[[["}},
      {"unterminated megabyte string", write_text("vocab.json", "{\"" + std::string(1 << 20, 'a')),
       {"vocab.json", "not valid JSON", "aaa..."}},
      {"vocab not an object", write_text("vocab.json", "[1, 2]"), {"vocab.json", "not a JSON object"}},
      {"vocab not JSON", write_text("vocab.json", "{\"a\": "), {"vocab.json", "not valid JSON"}},
      {"vocab without </s>", edit_json("vocab.json", [](json& j) { j.erase("</s>"); }), {"vocab.json", "</s>"}},
      {"vocab a FIFO", replace_with("vocab.json", "fifo"), {"vocab.json", "FIFO", "not a regular file"}},
      {"vocab a device", replace_with("vocab.json", "device"), {"vocab.json", "a device"}},
      {"target vocab negative id", set_json("target_vocab.json", "</s>", -3), {"target_vocab.json", "</s>", "-3"},
       "tiny_gelu_separate"},
      {"separate_vocabs not a boolean", set_json("tokenizer_config.json", "separate_vocabs", "yes"),
       {"tokenizer_config.json", "separate_vocabs", "\"yes\""}},
      {"source.spm garbage", write_text("source.spm", "not a protobuf"), {"source.spm", "SentencePiece"}},
      {"source.spm a FIFO", replace_with("source.spm", "fifo"), {"source.spm", "FIFO"}},
      {"source.spm missing", [](const fs::path& dir) { fs::remove(dir / "source.spm"); }, {"source.spm"}},
  };
}

std::vector<BadModel> config_cases() {
  const auto config = [](const std::string& key, json value) { return set_json("config.json", key, value); };
  const auto generation = [](const std::string& key, json value) { return set_json("generation_config.json", key, value); };
  return {
      {"eos_token_id 1e30", config("eos_token_id", 1e30), {"config.json", "eos_token_id", "1e+30"}},
      {"eos_token_id nested a million levels", replace_text("config.json", "\"eos_token_id\": 0", "\"eos_token_id\": " + kDeep),
       {"config.json", "eos_token_id", "[[["}},
      {"negative d_model", config("d_model", -256), {"config.json", "d_model", "-256", "from 1 to 65536"}},
      {"negative encoder_layers", config("encoder_layers", -1), {"config.json", "encoder_layers", "-1"}},
      {"vocab_size 1e10", config("vocab_size", 1e10), {"config.json", "vocab_size", "10000000000"}},
      {"vocab_size too large", config("vocab_size", 1ull << 32), {"config.json", "vocab_size", "4294967296"}},
      {"d_model zero", config("d_model", 0), {"config.json", "d_model", "is 0"}},
      {"d_model a string", config("d_model", "32"), {"config.json", "d_model", "\"32\""}},
      {"d_model missing", edit_json("config.json", [](json& j) { j.erase("d_model"); }), {"config.json", "d_model is missing"}},
      {"heads do not divide d_model", config("encoder_attention_heads", 3), {"config.json", "d_model", "divisible"}},
      {"ffn dim fractional", config("decoder_ffn_dim", 64.5), {"config.json", "decoder_ffn_dim", "64.5"}},
      {"pad_token_id outside vocab", config("pad_token_id", 157), {"config.json", "pad_token_id", "157", "157-token"}},
      {"decoder_start_token_id negative", config("decoder_start_token_id", -1), {"config.json", "decoder_start_token_id", "-1"}},
      {"bos_token_id outside vocab", config("bos_token_id", 1000), {"config.json", "bos_token_id", "1000"}},
      {"activation unknown", config("activation_function", "tanh"), {"config.json", "activation_function", "tanh"}},
      {"scale_embedding not a boolean", config("scale_embedding", 1), {"config.json", "scale_embedding"}},
      {"config not JSON", write_text("config.json", "{ not json"), {"config.json", "not valid JSON"}},
      {"config empty", write_text("config.json", ""), {"config.json", "not valid JSON"}},
      {"config an array", write_text("config.json", "[]"), {"config.json", "not a JSON object"}},
      {"config a FIFO", replace_with("config.json", "fifo"), {"config.json", "FIFO"}},
      {"config a directory", replace_with("config.json", "directory"), {"config.json", "a directory"}},
      {"config missing", [](const fs::path& dir) { fs::remove(dir / "config.json"); }, {"config.json", "No such file"}},
      {"config contradicts the tensors", config("encoder_ffn_dim", 65), {"fc1.weight", "shape", "[65, 32]"}},
      {"forced_eos_token_id outside vocab", generation("forced_eos_token_id", 157),
       {"generation_config.json", "forced_eos_token_id", "157"}},
      {"eos_token_id list with a bad id", generation("eos_token_id", json::array({0, 99999})),
       {"generation_config.json", "eos_token_id", "99999"}},
      {"bad_words_ids outside vocab", generation("bad_words_ids", json::array({json::array({157})})),
       {"generation_config.json", "bad_words_ids", "157"}},
      {"bad_words_ids not lists", generation("bad_words_ids", json::array({156})),
       {"generation_config.json", "bad_words_ids", "list of lists"}},
      {"num_beams zero", generation("num_beams", 0), {"generation_config.json", "num_beams", "is 0"}},
      {"max_length 1e30", generation("max_length", 1e30), {"generation_config.json", "max_length", "1e+30"}},
      {"length_penalty huge", generation("length_penalty", 1e300), {"generation_config.json", "length_penalty", "1e+300"}},
      {"length_penalty a string", generation("length_penalty", "1.0"), {"generation_config.json", "length_penalty"}},
      {"generation config not JSON", write_text("generation_config.json", "{,}"), {"generation_config.json", "not valid JSON"}},
      {"generation config a FIFO", replace_with("generation_config.json", "fifo"), {"generation_config.json", "FIFO"}},
  };
}

std::vector<BadModel> safetensors_cases() {
  const auto header_length = [](uint64_t length) {
    return [=](const fs::path& dir) {
      std::string bytes = read_bytes(dir / "model.safetensors");
      std::memcpy(bytes.data(), &length, 8);
      write_bytes(dir / "model.safetensors", bytes);
    };
  };
  const auto truncate = [](uintmax_t size) {
    return [=](const fs::path& dir) { fs::resize_file(dir / "model.safetensors", size); };
  };
  return {
      {"truncated", [](const fs::path& dir) { fs::resize_file(dir / "model.safetensors", 100000); },
       {"model.safetensors", "truncated", "ends at byte"}},
      {"5 bytes", truncate(5), {"model.safetensors", "not a safetensors file"}},
      {"empty", truncate(0), {"model.safetensors", "only 0 bytes"}},
      {"header longer than the file", header_length(1ull << 40), {"model.safetensors", "header of 1099511627776 bytes"}},
      {"header length 2^64-1", header_length(~0ull), {"model.safetensors", "header of 18446744073709551615 bytes"}},
      {"header not JSON", header_length(4), {"model.safetensors", "corrupt header"}},
      {"header an array", [](const fs::path& dir) { write_safetensors(dir / "model.safetensors", "[]", ""); },
       {"model.safetensors", "not a JSON object"}},
      {"shape 1e30", set_header(kBias, "shape", json::array({1e30})), {"model.safetensors", kBias, "shape", "1e+30"}},
      {"negative shape", set_header(kBias, "shape", json::array({-1, 157})), {kBias, "shape", "[-1,157]"}},
      {"shape nested a million levels",
       [](const fs::path& dir) {
         SafetensorsFile file(dir / "model.safetensors");
         std::string header = file.header.dump();
         header.replace(header.find("[1,157]"), 7, kDeep);
         write_safetensors(dir / "model.safetensors", header, file.data);
       },
       {kBias, "shape [[[["}},
      {"shape a string", set_header(kBias, "shape", "157"), {kBias, "shape", "\"157\""}},
      {"shape overflows", set_header(kBias, "shape", json::array({1ull << 32, 1ull << 32, 1ull << 32})),
       {kBias, "more than 2^64 elements"}},
      {"shape lies about the bytes", set_header(kBias, "shape", json::array({1, 156})),
       {kBias, "shape [1, 156] of F32", "hold 628 bytes"}},
      {"offset 1e30", set_header(kBias, "data_offsets", json::array({0, 1e30})), {kBias, "data_offsets", "1e+30"}},
      {"negative offset", set_header(kBias, "data_offsets", json::array({-4, 624})), {kBias, "data_offsets", "-4"}},
      {"reversed offsets", set_header(kBias, "data_offsets", json::array({628, 0})),
       {kBias, "data_offsets [628, 0]", "end is before the begin"}},
      {"three offsets", set_header(kBias, "data_offsets", json::array({0, 628, 700})), {kBias, "3 data_offsets"}},
      {"offsets past the end", set_header(kBias, "data_offsets", json::array({0, 1ull << 40})),
       {"model.safetensors", "truncated", kBias, "1099511627776"}},
      {"dtype lies about the bytes", set_header(kBias, "dtype", "F16"), {kBias, "of F16", "hold 628 bytes"}},
      {"dtype unreadable", set_header(kBias, "dtype", "I32"), {kBias, "\"I32\"", "F32, F16 and BF16"}},
      {"dtype unknown", set_header(kBias, "dtype", "Q4"), {kBias, "\"Q4\""}},
      {"dtype not a string", set_header(kBias, "dtype", 4), {kBias, "dtype 4"}},
      {"dtype missing", edit_header([](json& h) { h[kBias].erase("dtype"); }), {kBias, "no 'dtype'"}},
      {"entry not an object", edit_header([](json& h) { h[kBias] = 5; }), {kBias, "not an object"}},
      {"tensor missing", edit_header([](json& h) { h.erase(kFc1); }), {"model.safetensors", "has no tensor", kFc1}},
      {"a FIFO", replace_with("model.safetensors", "fifo"), {"model.safetensors", "FIFO", "not a regular file"}},
      {"a directory", replace_with("model.safetensors", "directory"), {"model.safetensors", "a directory"}},
      {"missing", [](const fs::path& dir) { fs::remove(dir / "model.safetensors"); }, {"model.safetensors", "No such file"}},
      {"NaN in an F32 weight", poison(kFc1, NAN), {"model.safetensors", kFc1, "nan", "finite"}},
      {"infinity in a BF16 bias", poison(kBias, INFINITY), {"model.safetensors", kBias, "inf"}, "tiny_relu_odd"},
      {"-infinity in an F16 embedding", poison("model.decoder.embed_tokens.weight", -INFINITY),
       {"model.safetensors", "decoder.embed_tokens", "-inf"}, "tiny_gelu_separate"},
  };
}

// What loading the model directory throws; "" when it loads.
std::string load_error(const fs::path& dir) {
  try {
    Engine translator(testing::context_for(), dir);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void check_table(const std::vector<BadModel>& cases) {
  for (const auto& c : cases) {
    INFO(c.what);
    const ModelCopy copy(c.model);
    c.corrupt(copy.dir());
    const std::string message = load_error(copy.dir());
    CHECK(message.find('\n') == std::string::npos);
    CHECK(message.size() < 400);
    for (const auto& part : c.expected) CHECK_THAT(message, Catch::Contains(part));
  }
  testing::require_no_validation_messages(testing::context_for());
}

}  // namespace

TEST_CASE("the corrupted copies start from models that load", "[model]") {
  for (const char* model : {"tiny_swish_shared", "tiny_relu_odd", "tiny_gelu_separate"}) {
    const ModelCopy copy(model);
    edit_header([](json&) {})(copy.dir());
    edit_json("config.json", [](json&) {})(copy.dir());
    CHECK(load_error(copy.dir()) == "");
  }
}

TEST_CASE("a bad vocabulary or tokenizer file is one error naming the file, the piece and the id", "[model]") {
  check_table(vocab_cases());
}

TEST_CASE("a bad config value is one error naming the file, the field and the value", "[model]") {
  check_table(config_cases());
}

TEST_CASE("a bad safetensors file is one error naming the file, the tensor and the field", "[model]") {
  check_table(safetensors_cases());
}

TEST_CASE("the model path must be a directory", "[model]") {
  const ModelCopy copy("tiny_swish_shared");
  CHECK_THROWS_WITH(open_marian_model(copy.dir() / "nothing"), Catch::Contains("does not exist"));
  CHECK_THROWS_WITH(open_marian_model(copy.dir() / "config.json"), Catch::Contains("is not a directory"));
}

// std::regex recursed once per character and overflowed the stack at about 30,000.
TEST_CASE("a long line after '>>' is tokenized without a crash", "[model]") {
  const Tokenizer tokenizer(fs::path(VKFORMER_TEST_DATA) / "tiny_swish_shared");
  const std::string text(300000, 'a');
  CHECK(tokenizer.encode(">>" + text).size() > 1);
  CHECK(tokenizer.encode(">>" + text + "<<").front() == tokenizer.unk_id());
}

TEST_CASE("the language tag scan finds what the regex >>.+<< found", "[model]") {
  const std::regex tag(">>.+<<");
  for (const std::string text : {">>de<< Hello", ">>de<<", ">><<", ">><<x", ">>a<<", ">>a<<<", ">><<<<", ">>de<< a <<b",
                                 ">>de\n<< x", ">>de<<\n>>fr<<", ">>de\r<<", "x >>de<<", ">>", ">>>", ">>><<", ""}) {
    std::smatch match;
    const bool found = std::regex_search(text, match, tag) && match.position(0) == 0;
    CHECK(language_tag_length(text) == (found ? size_t(match.length(0)) : 0));
  }
}
