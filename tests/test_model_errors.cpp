// A damaged model directory fails with one error naming the file (and tensor), never a crash.
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "test_context.hpp"
#include "vkformer/error.hpp"
#include "vkformer/translator.hpp"

using namespace vkformer;
namespace fs = std::filesystem;

namespace {

fs::path copy_model(const std::string& name) {
  const fs::path target = fs::temp_directory_path() / ("vkformer-test-" + name);
  fs::remove_all(target);
  fs::copy(fs::path(VKFORMER_TEST_DATA) / "tiny_swish_shared", target);
  return target;
}

}  // namespace

TEST_CASE("a truncated safetensors file names the file and the tensor", "[model]") {
  const auto dir = copy_model("truncated");
  fs::resize_file(dir / "model.safetensors", fs::file_size(dir / "model.safetensors") / 2);
  CHECK_THROWS_WITH(open_marian_model(dir), Catch::Contains("model.safetensors") && Catch::Contains("truncated"));
  fs::resize_file(dir / "model.safetensors", 5);
  CHECK_THROWS_WITH(open_marian_model(dir), Catch::Contains("not a safetensors file"));
}

TEST_CASE("a config that contradicts the tensors names the tensor", "[model]") {
  const auto dir = copy_model("inconsistent");
  nlohmann::json config;
  std::ifstream(dir / "config.json") >> config;
  config["encoder_ffn_dim"] = config["encoder_ffn_dim"].get<int>() + 1;
  std::ofstream(dir / "config.json") << config.dump();
  Context& context = testing::context_for();
  CHECK_THROWS_WITH(Translator(context, dir), Catch::Contains("fc1.weight") && Catch::Contains("shape"));
}

TEST_CASE("missing files are named", "[model]") {
  Context& context = testing::context_for();
  for (const char* file : {"config.json", "model.safetensors", "vocab.json", "source.spm"}) {
    const auto dir = copy_model(std::string("missing-") + file);
    fs::remove(dir / file);
    CHECK_THROWS_WITH(Translator(context, dir), Catch::Contains(file));
  }
  const auto dir = copy_model("bad-json");
  std::ofstream(dir / "config.json") << "{ not json";
  CHECK_THROWS_WITH(Translator(context, dir), Catch::Contains("not valid JSON"));
}
