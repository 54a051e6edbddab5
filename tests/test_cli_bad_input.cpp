// Bad input at the command line, as a table: each case runs the built `vkformer` and checks the exit code
// (README.md: 1 for bad input, model, device or output; 2 for a bad command line), that stderr is the one
// `vkformer: error:` line naming the problem, and that every line before a bad one was printed.
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>

#include <fmt/format.h>

#include "test_cli.hpp"
#include "test_context.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using vkformer::testing::CliResult;
using vkformer::testing::run_cli;
using vkformer::testing::read_bytes;
using vkformer::testing::SafetensorsFile;
using vkformer::testing::TempDir;

namespace {

struct Case {
  std::string name;
  std::string arguments;  // after `vkformer`; {model} is the model directory (quoted), {dir} the case's directory
  std::string input;      // stdin
  int exit_code = 1;
  std::vector<std::string> error;  // the one stderr line contains each of these
  std::vector<std::string> out;    // stdout lines; "*" matches any line
  std::string model = "tiny_swish_shared";           // under tests/data
  std::function<void(const fs::path& model)> damage;  // applied to a copy of the model
  std::string environment;                           // {dir} as in arguments
  std::string stdin_redirect, stdout_redirect;
  int timeout_s = 120;
};

json golden() { return vkformer::testing::read_test_json("tiny_swish_shared/golden.json"); }
// The first golden source and its greedy translation at --max-length 16: the line printed before a bad one.
const std::string kFirst = "Hello";
std::string translated() { return golden()["greedy"]["outputs"][0]["text"].get<std::string>(); }
const std::string kGreedy = "translate --model {model} --beam 1 --max-length 16";

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

bool lines_match(const std::vector<std::string>& lines, const std::vector<std::string>& expected) {
  if (lines.size() != expected.size()) return false;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (expected[i] != "*" && lines[i] != expected[i]) return false;
  }
  return true;
}

void check(const Case& c) {
  INFO("case: " << c.name);
  const TempDir dir;
  fs::path model = fs::path(VKFORMER_TEST_DATA) / c.model;
  if (c.damage) {
    fs::copy(model, dir.path() / "model");
    model = dir.path() / "model";
    c.damage(model);
  }
  const auto fill = [&](const std::string& text) {
    return replaced(replaced(text, "{model}", fmt::format("'{}'", model.string())), "{dir}", dir.path().string());
  };
  const CliResult result = run_cli({.arguments = fill(c.arguments), .input = c.input, .environment = fill(c.environment),
                                    .stdin_redirect = c.stdin_redirect, .stdout_redirect = c.stdout_redirect,
                                    .timeout_s = c.timeout_s});
  INFO("stdout: " << result.out.size() << " lines; stderr: " << Catch::Detail::stringify(result.err));
  CHECK(result.exit_code == c.exit_code);
  CHECK(lines_match(result.out, c.out));
  if (c.exit_code == 0) {
    CHECK(result.err.empty());
    return;
  }
  CHECK(result.err.size() == 1);
  if (result.err.empty()) return;
  CHECK_THAT(result.err.front(), Catch::StartsWith("vkformer: error: "));
  for (const auto& part : c.error) CHECK_THAT(result.err.front(), Catch::Contains(part, Catch::CaseSensitive::No));
}

// --- damaging a copy of a model --------------------------------------------------------------------------

void edit_json(const fs::path& file, const std::function<void(json&)>& edit) {
  json value = json::parse(std::ifstream(file));
  edit(value);
  std::ofstream(file) << value.dump(2);
}

// Both configs, so that neither one's value hides the other's.
std::function<void(const fs::path&)> set_config(const std::string& key, const json& value) {
  return [=](const fs::path& model) {
    edit_json(model / "config.json", [&](json& config) { config[key] = value; });
    if (key.ends_with("_id") || key == "bad_words_ids") {
      edit_json(model / "generation_config.json", [&](json& config) { config[key] = value; });
    }
  };
}

std::function<void(const fs::path&)> set_vocab(const json& id) {
  return [=](const fs::path& model) { edit_json(model / "vocab.json", [&](json& vocab) { vocab["▁you"] = id; }); };
}

std::function<void(const fs::path&)> edit_safetensors(const std::function<void(SafetensorsFile&)>& edit) {
  return [=](const fs::path& model) {
    SafetensorsFile file(model / "model.safetensors");
    edit(file);
    file.write(model / "model.safetensors");
  };
}

std::function<void(const fs::path&)> set_tensor(const std::string& tensor, const json& key, const json& value) {
  return edit_safetensors([=](SafetensorsFile& file) { file.header.at(tensor)[key.get<std::string>()] = value; });
}

std::function<void(const fs::path&)> remove_file(const std::string& name) {
  return [=](const fs::path& model) { fs::remove(model / name); };
}

std::function<void(const fs::path&)> write_file(const std::string& name, const std::string& content) {
  return [=](const fs::path& model) { std::ofstream(model / name, std::ios::binary | std::ios::trunc) << content; };
}

std::string lines(size_t count, const std::string& line) {
  std::string text;
  for (size_t i = 0; i < count; ++i) text += line + "\n";
  return text;
}

std::string long_line() {
  std::string line;
  for (int i = 0; i < 3000; ++i) line += "word ";
  return line;
}

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) files.push_back(entry.path());
  return files;
}

const std::string kBadUtf8 = "bad \xff" "byte";
const std::string kFc1 = "model.encoder.layers.0.fc1.weight";

}  // namespace

TEST_CASE("cli: bad input lines: the lines before are printed, then one error naming the line", "[cli]") {
  const std::string T = translated();
  const std::vector<Case> cases = {
      {.name = "invalid UTF-8 on line 2", .arguments = kGreedy, .input = kFirst + "\n" + kBadUtf8 + "\n" + kFirst + "\n",
       .error = {"line 2:", "UTF-8"}, .out = {T}},
      // --max-input-length 0: no truncation (test_cli_stream.cpp checks the default, which truncates).
      {.name = "line longer than the model's positions", .arguments = kGreedy + " --max-input-length 0",
       .input = kFirst + "\n" + long_line() + "\n", .error = {"line 2:", "positions"}, .out = {T}},
      {.name = "invalid UTF-8 in the second text argument",
       .arguments = kGreedy + " '" + kFirst + "' '" + kBadUtf8 + "'", .error = {"argument 2:", "UTF-8"}, .out = {T}},
      // --batch-size 1 reads 64-line chunks: the bad line is in the second chunk.
      {.name = "bad line after a full chunk", .arguments = kGreedy + " --batch-size 1",
       .input = lines(70, kFirst) + kBadUtf8 + "\n", .error = {"line 71:", "UTF-8"},
       .out = std::vector<std::string>(70, T)},
      // The >>xx<< language-tag regex recursed once per character.
      {.name = "'>>' then a long text", .arguments = kGreedy + " --max-input-length 0", .input = kFirst + "\n>>" + std::string(40000, 'a') + "\n",
       .error = {"line 2:"}, .out = {T}},
      {.name = "--json lines before a bad line", .arguments = kGreedy + " --json",
       .input = kFirst + "\n" + kBadUtf8 + "\n", .error = {"line 2:", "UTF-8"}, .out = {"*"}},
      {.name = "beam search with --n-best 2: both hypotheses before a bad line",
       .arguments = "translate --model {model} --max-length 16 --n-best 2", .input = kFirst + "\n" + kBadUtf8 + "\n",
       .error = {"line 2:", "UTF-8"}, .out = {"*", "*"}},
      {.name = "empty input", .arguments = kGreedy, .input = "", .exit_code = 0},
      {.name = "empty and blank lines are translated", .arguments = kGreedy, .input = "\n   \n" + kFirst + "\n",
       .exit_code = 0, .out = {"*", "*", T}},
      {.name = "CRLF line ends and no final newline", .arguments = kGreedy, .input = kFirst + "\r\n" + kFirst,
       .exit_code = 0, .out = {T, T}},
      {.name = "stdin is a directory", .arguments = kGreedy, .error = {"cannot read input", "directory"},
       .stdin_redirect = "< /"},
      {.name = "stdin is closed", .arguments = kGreedy, .error = {"cannot read input", "closed"}, .stdin_redirect = "<&-"},
      {.name = "stdout is a full disk", .arguments = kGreedy, .input = kFirst + "\n",
       .error = {"cannot write output", "no space"}, .stdout_redirect = "> /dev/full"},
      {.name = "stdout is closed", .arguments = kGreedy, .input = kFirst + "\n",
       .error = {"cannot write output", "closed"}, .stdout_redirect = ">&-"},
      {.name = "devices to a full disk", .arguments = "devices", .error = {"cannot write output", "no space"},
       .stdout_redirect = "> /dev/full"},
      {.name = "--help to a full disk", .arguments = "translate --help", .error = {"cannot write output", "no space"},
       .stdout_redirect = "> /dev/full"},
      {.name = "profile without input", .arguments = "profile --model {model}", .error = {"nothing to profile"}},
  };
  for (const auto& c : cases) check(c);
}

TEST_CASE("cli: bad options: one error naming the option, exit code 2", "[cli]") {
  const std::vector<Case> cases = {
      {.name = "--length-penalty nan", .arguments = kGreedy + " --length-penalty nan hello", .exit_code = 2,
       .error = {"--length-penalty", "nan"}},
      {.name = "--length-penalty inf", .arguments = kGreedy + " --length-penalty inf hello", .exit_code = 2,
       .error = {"--length-penalty", "inf"}},
      {.name = "--length-penalty 1e999", .arguments = kGreedy + " --length-penalty 1e999 hello", .exit_code = 2,
       .error = {"--length-penalty", "1e999"}},
      {.name = "--length-penalty not a number", .arguments = kGreedy + " --length-penalty 1.5x hello", .exit_code = 2,
       .error = {"--length-penalty", "1.5x"}},
      {.name = "--beam 0", .arguments = "translate --model {model} --beam 0 hello", .exit_code = 2, .error = {"--beam"}},
      {.name = "--beam 9", .arguments = "translate --model {model} --beam 9 hello", .exit_code = 2, .error = {"--beam"}},
      {.name = "--beam 1.5", .arguments = "translate --model {model} --beam 1.5 hello", .exit_code = 2, .error = {"--beam"}},
      {.name = "--n-best above the model's beam", .arguments = "translate --model {model} --n-best 5 hello",
       .exit_code = 2, .error = {"--n-best 5", "beam size 4"}},
      {.name = "--max-length 1", .arguments = kGreedy + " --max-length 1 hello", .exit_code = 2, .error = {"--max-length"}},
      {.name = "--batch-size 0", .arguments = kGreedy + " --batch-size 0 hello", .exit_code = 2, .error = {"--batch-size"}},
      {.name = "--on-error nosuch", .arguments = kGreedy + " --on-error nosuch hello", .exit_code = 2,
       .error = {"--on-error", "nosuch"}},
      {.name = "--max-input-length -1", .arguments = kGreedy + " --max-input-length -1 hello", .exit_code = 2,
       .error = {"--max-input-length"}},
      {.name = "--input and text arguments", .arguments = kGreedy + " --input {model}/config.json hello", .exit_code = 2,
       .error = {"--input"}},
      {.name = "--input does not exist", .arguments = kGreedy + " --input /nonexistent-vkformer-input",
       .error = {"cannot open input", "/nonexistent-vkformer-input"}},
      {.name = "--input is a directory", .arguments = kGreedy + " --input {dir}", .error = {"cannot open input", "directory"}},
      {.name = "--output in a missing directory", .arguments = kGreedy + " --output /nonexistent-vkformer-dir/out hello",
       .error = {"cannot open output", "/nonexistent-vkformer-dir/out"}},
      {.name = "--batch-tokens -5", .arguments = kGreedy + " --batch-tokens -5 hello", .exit_code = 2,
       .error = {"--batch-tokens"}},
      {.name = "--device index out of range of any integer", .arguments = kGreedy + " --device 99999999999999999999 hello",
       .exit_code = 2, .error = {"--device", "99999999999999999999", "not a device index"}},
      {.name = "--device index of no device", .arguments = kGreedy + " --device 7 hello", .error = {"device 7"}},
      {.name = "--device name of no device", .arguments = kGreedy + " --device nosuchgpu hello",
       .error = {"no Vulkan device matches 'nosuchgpu'"}},
      {.name = "--tuning nosuch", .arguments = kGreedy + " --tuning nosuch hello", .exit_code = 2,
       .error = {"--tuning", "nosuch"}},
      {.name = "--precision f64", .arguments = kGreedy + " --precision f64 hello", .exit_code = 2,
       .error = {"--precision", "f64"}},
      {.name = "unknown option", .arguments = kGreedy + " --nosuch hello", .exit_code = 2, .error = {"--nosuch"}},
      {.name = "no subcommand", .arguments = "", .exit_code = 2, .error = {"subcommand"}},
      {.name = "--model is a file", .arguments = "translate --model {model}/config.json hello",
       .error = {"config.json", "not a directory"}},
      {.name = "--model does not exist", .arguments = "translate --model /nonexistent-vkformer-model hello",
       .error = {"/nonexistent-vkformer-model"}},
      {.name = "VKFORMER_MODEL does not exist", .arguments = "translate hello",
       .error = {"/nonexistent-vkformer-model"}, .environment = "VKFORMER_MODEL=/nonexistent-vkformer-model"},
      {.name = "bench ops --op nosuch", .arguments = "bench ops --op nosuch", .exit_code = 2, .error = {"--op", "nosuch"}},
      {.name = "bench ops --shape 0x0x0", .arguments = "bench ops --shape 0x0x0", .exit_code = 2,
       .error = {"--shape", "positive"}},
      {.name = "bench ops --shape too large", .arguments = "bench ops --shape 9999999x9999999x9999999",
       .exit_code = 2, .error = {"--shape", "2^28"}},
      {.name = "bench ops --shape not numbers", .arguments = "bench ops --shape axb", .exit_code = 2,
       .error = {"--shape 'axb'"}},
      {.name = "bench ops --repeat 0", .arguments = "bench ops --repeat 0", .exit_code = 2, .error = {"--repeat"}},
      {.name = "bench ops --shape top-k of 17", .arguments = "bench ops --shape 4x100:17", .exit_code = 2,
       .error = {"--shape '4x100:17'", "K from 1 to min(C, 16)"}},
      {.name = "bench ops --shape top-k of more than the columns", .arguments = "bench ops --shape 4x5:8",
       .exit_code = 2, .error = {"--shape '4x5:8'", "K from 1"}},
      {.name = "--cpu-threads past 256", .arguments = "translate --cpu-threads 257 hello", .exit_code = 2,
       .error = {"--cpu-threads"}},
      {.name = "conformance --op nosuch", .arguments = "conformance --op nosuch", .exit_code = 2,
       .error = {"--op", "nosuch"}},
      // lavapipe has no cooperative matrices: the tuning and the kernel that need them are refused by name.
      {.name = "--tuning nvidia-coopmat without cooperative matrices",
       .arguments = "conformance --tuning nvidia-coopmat --op matmul_coopmat",
       .error = {"tuning 'nvidia-coopmat' does not fit", "matmul_coopmat: ", "VK_NV_cooperative_matrix"}},
      {.name = "bench ops --kernel coopmat under a tuning without cooperative matrices",
       .arguments = "bench ops --precision f16 --kernel coopmat --shape 64x64x64",
       .error = {"cooperative-matrix matmul kernel cannot run 64x64x64", "does not use cooperative matrices"},
       .out = {"*", "*"}},
  };
  for (const auto& c : cases) check(c);
}

TEST_CASE("cli: damaged model files: one error naming the file and what is wrong", "[cli]") {
  const std::string hello = kGreedy + " hello";
  const std::vector<Case> cases = {
      {.name = "config.json missing", .arguments = hello, .error = {"config.json"},
       .damage = remove_file("config.json")},
      {.name = "vocab.json missing", .arguments = hello, .error = {"vocab.json"},
       .damage = remove_file("vocab.json")},
      {.name = "model.safetensors missing", .arguments = hello, .error = {"model.safetensors"},
       .damage = remove_file("model.safetensors")},
      {.name = "source.spm missing", .arguments = hello, .error = {"source.spm"}, .damage = remove_file("source.spm")},
      {.name = "config.json not JSON", .arguments = hello, .error = {"config.json", "JSON"},
       .damage = write_file("config.json", "{")},
      {.name = "generation_config.json not JSON", .arguments = hello, .error = {"generation_config.json", "JSON"},
       .damage = write_file("generation_config.json", "{")},
      {.name = "vocab.json not JSON", .arguments = hello, .error = {"vocab.json", "JSON"},
       .damage = write_file("vocab.json", "{")},
      {.name = "config.json field of the wrong type", .arguments = hello, .error = {"config.json", "d_model"},
       .damage = set_config("d_model", "abc")},
      {.name = "unsupported activation", .arguments = hello, .error = {"config.json", "activation_function"},
       .damage = set_config("activation_function", "nosuch")},
      {.name = "model.safetensors empty", .arguments = hello, .error = {"model.safetensors"},
       .damage = write_file("model.safetensors", "")},
      {.name = "model.safetensors truncated", .arguments = hello, .error = {"model.safetensors", "truncated"},
       .damage = [](const fs::path& m) {
         fs::resize_file(m / "model.safetensors", fs::file_size(m / "model.safetensors") / 2);
       }},
      {.name = "safetensors header size larger than the file", .arguments = hello, .error = {"model.safetensors"},
       .damage = write_file("model.safetensors", std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8))},
      {.name = "safetensors header not JSON", .arguments = hello, .error = {"model.safetensors", "header"},
       .damage = write_file("model.safetensors", std::string("\x08\0\0\0\0\0\0\0{{{{{{{{", 16))},
      {.name = "tensor of an unsupported dtype", .arguments = hello, .error = {"final_logits_bias", "I64"},
       .damage = set_tensor("final_logits_bias", "dtype", "I64")},
      {.name = "tensor of the wrong shape", .arguments = hello, .error = {kFc1, "shape"},
       .damage = set_tensor(kFc1, "shape", {3, 3})},
      {.name = "tensor missing", .arguments = hello, .error = {kFc1},
       .damage = edit_safetensors([](SafetensorsFile& file) { file.header.erase(kFc1); })},
      {.name = "tensor data beyond the file", .arguments = hello, .error = {"model.safetensors"},
       .damage = set_tensor("final_logits_bias", "data_offsets", {0, 100000000})},
      {.name = "vocab.json id -1", .arguments = hello, .error = {"vocab.json", "▁you", "-1"}, .damage = set_vocab(-1)},
      {.name = "vocab.json id 4e9", .arguments = hello, .error = {"vocab.json", "▁you", "4000000000"},
       .damage = set_vocab(4000000000u)},
      {.name = "vocab.json id beyond the vocabulary", .arguments = hello, .error = {"vocab.json", "▁you", "500"},
       .damage = set_vocab(500)},
      {.name = "vocab.json id given twice (4 is '▁th')", .arguments = hello, .error = {"vocab.json", "4"},
       .damage = set_vocab(4)},
      {.name = "model.safetensors is a FIFO", .arguments = hello, .error = {"model.safetensors"},
       .damage = [](const fs::path& m) {
         fs::remove(m / "model.safetensors");
         REQUIRE(mkfifo((m / "model.safetensors").c_str(), 0600) == 0);
       },
       .timeout_s = 20},
      {.name = "config.json is a directory", .arguments = hello, .error = {"config.json"},
       .damage = [](const fs::path& m) {
         fs::remove(m / "config.json");
         fs::create_directory(m / "config.json");
       }},
      {.name = "NaN in a weight", .arguments = hello, .error = {kFc1},
       .damage = edit_safetensors([](SafetensorsFile& f) { f.set(kFc1, 3, 1, std::numeric_limits<float>::quiet_NaN()); })},
      {.name = "Inf in final_logits_bias", .arguments = hello, .error = {"final_logits_bias"},
       .damage = edit_safetensors([](SafetensorsFile& f) {
         f.set("final_logits_bias", 0, 1, std::numeric_limits<float>::infinity());
       })},
      {.name = "forced_eos_token_id outside the vocabulary", .arguments = hello, .error = {"forced_eos_token_id", "5000"},
       .damage = set_config("forced_eos_token_id", 5000)},
      {.name = "eos_token_id outside the vocabulary", .arguments = hello, .error = {"eos_token_id", "5000"},
       .damage = set_config("eos_token_id", 5000)},
      {.name = "pad_token_id outside the vocabulary", .arguments = hello, .error = {"pad_token_id", "5000"},
       .damage = set_config("pad_token_id", 5000)},
      {.name = "decoder_start_token_id outside the vocabulary", .arguments = hello,
       .error = {"decoder_start_token_id", "5000"}, .damage = set_config("decoder_start_token_id", 5000)},
      {.name = "bad_words_ids outside the vocabulary", .arguments = hello, .error = {"bad_words_ids", "5000"},
       .damage = set_config("bad_words_ids", json::array({json::array({5000})}))},
      {.name = "eos_token_id 1e30", .arguments = hello, .error = {"config.json", "eos_token_id", "1e+30"},
       .damage = set_config("eos_token_id", 1e30)},
      {.name = "d_model negative", .arguments = hello, .error = {"config.json", "d_model", "-256"},
       .damage = set_config("d_model", -256)},
      {.name = "encoder_layers negative", .arguments = hello, .error = {"config.json", "encoder_layers", "-1"},
       .damage = set_config("encoder_layers", -1)},
      {.name = "vocab_size 1e10", .arguments = hello, .error = {"config.json", "vocab_size"},
       .damage = set_config("vocab_size", 1e10)},
      {.name = "negative data_offsets", .arguments = hello, .error = {"final_logits_bias", "data_offsets"},
       .damage = set_tensor("final_logits_bias", "data_offsets", {-8, 620})},
      {.name = "reversed data_offsets", .arguments = hello, .error = {"final_logits_bias", "data_offsets"},
       .damage = set_tensor("final_logits_bias", "data_offsets", {628, 0})},
      {.name = "shape 1e30", .arguments = hello, .error = {"final_logits_bias", "shape"},
       .damage = set_tensor("final_logits_bias", "shape", json::array({1e30}))},
  };
  for (const auto& c : cases) check(c);
}

TEST_CASE("cli: no driver and damaged pipeline caches", "[cli]") {
  const std::string T = translated();
  const std::string hello = kGreedy + " " + kFirst;
  const std::string cache = "VKFORMER_CACHE_DIR={dir}/cache";
  // Every driver names its cache file differently: damage whatever a first run wrote.
  const auto damage_cache = [&](std::function<void(const fs::path&)> damage) {
    return [=](const fs::path& model) {
      const fs::path dir = model.parent_path() / "cache";
      REQUIRE(run_cli(fmt::format("translate --model '{}' --beam 1 hello", model.string()), "",
                      "VKFORMER_CACHE_DIR=" + dir.string()).exit_code == 0);
      for (const auto& entry : fs::directory_iterator(dir)) damage(entry.path());
    };
  };
  const std::vector<Case> cases = {
      // The loader finds no ICD; validation off, since there are no layers to load either.
      {.name = "no Vulkan driver", .arguments = hello, .error = {"Vulkan"},
       .environment = "VK_ICD_FILENAMES=/nonexistent.json VK_DRIVER_FILES=/nonexistent.json VKFORMER_VALIDATION=0"},
      {.name = "pipeline cache of random bytes", .arguments = hello, .exit_code = 0, .out = {T},
       .damage = damage_cache([](const fs::path& f) { std::ofstream(f, std::ios::binary) << std::string(5000, '\x5a'); }),
       .environment = cache},
      {.name = "pipeline cache truncated", .arguments = hello, .exit_code = 0, .out = {T},
       .damage = damage_cache([](const fs::path& f) { fs::resize_file(f, 7); }), .environment = cache},
      {.name = "pipeline cache with garbage after its header", .arguments = hello, .exit_code = 0, .out = {T},
       .damage = damage_cache([](const fs::path& f) { std::ofstream(f, std::ios::app) << std::string(999, '\x01'); }),
       .environment = cache},
      {.name = "pipeline cache is a directory", .arguments = hello, .exit_code = 0, .out = {T},
       .damage = damage_cache([](const fs::path& f) {
         fs::remove(f);
         fs::create_directories(f / "x");
       }),
       .environment = cache},
      // Opening a FIFO for reading blocks until a writer comes: it must not be opened at all.
      {.name = "pipeline cache is a FIFO", .arguments = hello, .exit_code = 0, .out = {T},
       .damage = damage_cache([](const fs::path& f) {
         fs::remove(f);
         REQUIRE(mkfifo(f.c_str(), 0600) == 0);
       }),
       .environment = cache, .timeout_s = 20},
      {.name = "pipeline cache directory cannot be created", .arguments = hello, .exit_code = 0, .out = {T},
       .environment = "VKFORMER_CACHE_DIR=/dev/null/vkformer"},
  };
  for (const auto& c : cases) check(c);
}

TEST_CASE("cli: a damaged pipeline cache file is replaced by a valid one, with no temporary left", "[cli]") {
  const TempDir dir;
  const fs::path cache = dir.path() / "cache";
  const std::string environment = "VKFORMER_CACHE_DIR=" + cache.string();
  const std::string arguments =
      fmt::format("translate --model '{}/tiny_swish_shared' --beam 1 hello", VKFORMER_TEST_DATA);
  REQUIRE(run_cli(arguments, "", environment).exit_code == 0);
  const auto files = files_in(cache);
  REQUIRE(files.size() == 1);
  const std::string valid = read_bytes(files[0]);
  std::ofstream(files[0], std::ios::binary | std::ios::trunc) << std::string(valid.size(), '\x5a');

  const CliResult replaced = run_cli(arguments, "", environment);
  CHECK(replaced.exit_code == 0);
  CHECK(replaced.err.empty());
  CHECK(files_in(cache) == files);
  CHECK(read_bytes(files[0]).substr(0, 32) == valid.substr(0, 32));  // the driver's header again

  // A directory in its place cannot be replaced: the temporary written beside it is removed.
  fs::remove(files[0]);
  fs::create_directories(files[0] / "x");
  const CliResult kept = run_cli(arguments, "", environment);
  CHECK(kept.exit_code == 0);
  CHECK(kept.err.empty());
  CHECK(files_in(cache) == files);
}

// A sentence whose numbers overflow at run time (an embedding row of 3e38 in BF16, finite at load) must be
// an error naming its line, after the lines before it; the other sentences of its batch are unaffected.
// The argmax and top-k kernels flag rows whose logits are not finite; the translator checks every step.
TEST_CASE("cli: a numerical blow-up at run time is an error naming the line", "[cli]") {
  const json g = vkformer::testing::read_test_json("tiny_relu_odd/golden.json");
  const std::string first = g["sources"][0], other = g["sources"][1];
  const auto overflow = edit_safetensors([](SafetensorsFile& f) { f.set("model.shared.weight", 25 * 36, 36, 3e38f); });  // "Z"
  const std::string arguments =
      fmt::format("translate --model {{model}} --max-length {}", g["greedy"]["max_length"].get<int>());
  for (const std::string beam : {"1", "4"}) {
    check({.name = "greedy and beam " + beam, .arguments = arguments + " --beam " + beam,
           .input = first + "\nZZZ\n" + other + "\n", .error = {"line 2:", "finite"},
           .out = {beam == "1" ? g["greedy"]["outputs"][0]["text"].get<std::string>() : "*"},
           .model = "tiny_relu_odd", .damage = overflow});
  }
}
