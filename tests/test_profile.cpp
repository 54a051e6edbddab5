// Profiles add up: per-layer GPU times against each submit's whole span, the trace and the chart parse.
// Dispatch kinds have one name each across encoder and decoder; the chart gives each kind its own colour,
// an axis in ms and the run in its title; `vkformer profile` decodes as `translate` does.
#include <map>
#include <regex>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "test_cli.hpp"
#include "test_context.hpp"
#include "vkformer/profiler.hpp"
#include "vkformer/engine.hpp"

using namespace vkformer;

namespace {

// Every match of `pattern`'s groups in `text`.
std::vector<std::smatch> matches(const std::string& text, const std::string& pattern) {
  const std::regex re(pattern);
  return {std::sregex_iterator(text.begin(), text.end(), re), std::sregex_iterator()};
}

// The dispatch kinds of the layers whose name is `layer`, in order of first occurrence.
std::vector<std::string> kinds_of(const Profiler& profiler, const std::string& layer) {
  std::vector<std::string> kinds;
  for (const auto& submit : profiler.submits()) {
    for (const auto& l : submit.layers) {
      if (l.name != layer) continue;
      for (const auto& d : l.dispatches) {
        if (std::find(kinds.begin(), kinds.end(), d.label) == kinds.end()) kinds.push_back(d.label);
      }
    }
  }
  return kinds;
}

std::set<std::string> all_kinds(const Profiler& profiler) {
  std::set<std::string> kinds;
  for (const auto& submit : profiler.submits()) {
    for (const auto& layer : submit.layers) {
      for (const auto& d : layer.dispatches) kinds.insert(d.label);
    }
  }
  return kinds;
}

// Checks the chart's colours, axis and title against the profile it was drawn from.
void check_chart(const std::string& svg, const Profiler& profiler, const Profiler::Run& run) {
  INFO(svg);
  // Legend: one entry per kind, each kind its own colour.
  const auto legend_start = svg.find("<g class=\"legend\">");
  REQUIRE(legend_start != std::string::npos);
  const std::string legend = svg.substr(legend_start);
  std::map<std::string, std::string> color_of;
  std::set<std::string> colors;
  for (const auto& m : matches(legend, "<rect [^>]*fill=\"(#[0-9a-f]{6})\" data-kind=\"([^\"]*)\"")) {
    CHECK(color_of.emplace(m[2].str(), m[1].str()).second);
    CHECK(colors.insert(m[1].str()).second);
  }
  std::set<std::string> legend_kinds;
  for (const auto& [kind, color] : color_of) legend_kinds.insert(kind);
  CHECK(legend_kinds == all_kinds(profiler));
  // Bars: each segment has its kind's legend colour.
  const std::string above_legend = svg.substr(0, legend_start);
  const auto bars = matches(above_legend, "<rect [^>]*fill=\"(#[0-9a-f]{6})\" data-kind=\"([^\"]*)\">");
  REQUIRE(!bars.empty());
  for (const auto& m : bars) {
    INFO("bar of " << m[2].str());
    REQUIRE(color_of.count(m[2].str()));
    CHECK(color_of.at(m[2].str()) == m[1].str());
  }

  // Axis: ticks from 0, evenly spaced in value and position, past the longest bar, titled in ms.
  const auto axis = matches(svg, "<line class=\"tick\" x1=\"([0-9.]+)\"[^>]*/><text class=\"tick-label\"[^>]*>([0-9.]+)</text>");
  REQUIRE(axis.size() >= 3);
  CHECK(std::stod(axis[0][2].str()) == 0);
  const double value_step = std::stod(axis[1][2].str()), x_step = std::stod(axis[1][1].str()) - std::stod(axis[0][1].str());
  CHECK(value_step > 0);
  CHECK(x_step > 0);
  for (size_t i = 1; i < axis.size(); ++i) {
    CHECK(std::stod(axis[i][2].str()) - std::stod(axis[i - 1][2].str()) == Approx(value_step).epsilon(1e-6));
    CHECK(std::stod(axis[i][1].str()) - std::stod(axis[i - 1][1].str()) == Approx(x_step).margin(0.02));
  }
  double longest = 0;
  for (const auto& m : matches(svg, "<text x=\"[0-9.]+\" y=\"[0-9]+\">([0-9.]+)</text>")) {
    longest = std::max(longest, std::stod(m[1].str()));
  }
  CHECK(longest > 0);
  CHECK(std::stod(axis.back()[2].str()) >= longest - 0.005);
  CHECK(svg.find("class=\"axis-title\"") != std::string::npos);
  CHECK(svg.find(">GPU time (ms)</text>") != std::string::npos);

  // Title: the device, model, beam, batch size and wall time.
  const auto title_start = svg.find("<g class=\"title\">");
  REQUIRE(title_start != std::string::npos);
  const std::string title = svg.substr(title_start, svg.find("</g>", title_start) - title_start);
  CHECK(title.find(fmt::format("device: {}", run.device)) != std::string::npos);
  CHECK(title.find(fmt::format("model: {}", run.model)) != std::string::npos);
  CHECK(title.find(fmt::format("beam {}, batch size {}, {} sentences", run.beam, run.batch_size, run.sentences)) !=
        std::string::npos);
  CHECK(title.find(fmt::format("wall {:.1f} ms", run.wall_ms)) != std::string::npos);
}

}  // namespace

TEST_CASE("profile sums, trace and chart are consistent", "[profile]") {
  Context& context = testing::context_for();
  REQUIRE(context.info().timestamp_valid_bits > 0);
  Engine translator(context, std::string(VKFORMER_TEST_DATA) + "/tiny_swish_shared", true);
  Profiler profiler(true);
  translator.set_observer(&profiler);
  translator.translate_text({"Hello", "Where is the train station?"}, {.beam = 2, .max_length = 12});
  REQUIRE(!profiler.submits().empty());

  size_t dispatches = 0;
  for (const auto& submit : profiler.submits()) {
    double layer_sum = 0, previous_end = submit.layers.at(0).start_ns;
    for (const auto& layer : submit.layers) {
      // Layers run in recorded order without overlapping. How long the gaps between command buffers
      // are is timing, which depends on the machine's load, so it is not checked.
      CHECK(layer.start_ns >= previous_end);
      CHECK(layer.end_ns >= layer.start_ns);
      previous_end = layer.end_ns;
      layer_sum += (layer.end_ns - layer.start_ns) * 1e-6;
      double dispatch_sum = 0;
      for (const auto& d : layer.dispatches) dispatch_sum += (d.end_ns - d.start_ns) * 1e-6;
      // Dispatch slices tile their layer exactly: each starts where the previous one ended.
      CHECK(dispatch_sum == Approx(layer.end_ns * 1e-6 - layer.start_ns * 1e-6).margin(1e-6));
      dispatches += layer.dispatches.size();
    }
    CHECK(layer_sum <= submit.gpu_ms() + 1e-6);
    CHECK(submit.wall_ms >= 0);
  }

  const auto trace = nlohmann::json::parse(profiler.chrome_trace().dump());
  size_t dispatch_slices = 0;
  for (const auto& event : trace["traceEvents"]) dispatch_slices += event.value("cat", "") == "dispatch";
  CHECK(dispatch_slices == dispatches);

  // A model path with XML's special characters stays well-formed.
  const Profiler::Run run{.device = context.info().name, .model = "a&b <c>", .beam = 2, .batch_size = 32,
                          .sentences = 2, .wall_ms = 12.345};
  const std::string svg = profiler.svg_chart(run);
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(svg.find("</svg>") != std::string::npos);
  CHECK(svg.find("a&amp;b &lt;c&gt;") != std::string::npos);
  CHECK(svg.find("a&b") == std::string::npos);
  // Every rect is closed: by </rect> (bars, with a tooltip) or by itself (legend).
  CHECK(matches(svg, "<rect ").size() == matches(svg, "</rect>").size() + matches(svg, "<rect [^>]*/>").size());
  CHECK(profiler.table().find("decoder L0") != std::string::npos);
  testing::require_no_validation_messages(context);
}

// A post-norm Marian model, a pre-norm CTranslate2 model with a position table (position lookups: the most
// dispatch kinds) and an int8 one, under a tuning that fuses the residual adds and norms into the output
// projections (nvidia: out proj and ffn2 do them, the first layer's pre-norm comes with the embedding, the
// final norm with the last ffn2) and two that do not (generic, and cpu for the Marian model: separate
// layer_norm dispatches). The residual add of a pre-norm model is in the matmul either way. Decoder steps of
// 4 rows project q, k, v in the attention kernels under nvidia and generic (Tuning::attention_projection_rows:
// any rows on GPUs), not under cpu (1 row); the int8 model's take the qkv and cross q matmuls. Under nvidia a
// decoder layer is 6 dispatches, an encoder layer 5.
TEST_CASE("profile: dispatch kinds have one name each across encoder and decoder, and the chart gives each its colour",
          "[profile]") {
  struct Case {
    std::string tuning, model;
    std::vector<std::string> encoder_layer, decoder_layer;
    size_t kinds;
  };
  const std::vector<std::string> fused_encoder{"qkv", "self attention", "self out proj", "ffn1", "ffn2"};
  const std::vector<std::string> fused_decoder{"qkv + cached self attention", "self out proj",
                                               "cross q + cross attention", "cross out proj", "ffn1", "ffn2"};
  const std::vector<Case> cases{
      {.tuning = "nvidia", .model = "tiny_swish_shared", .encoder_layer = fused_encoder,
       .decoder_layer = fused_decoder, .kinds = 12},
      {.tuning = "nvidia", .model = "ctranslate2/pre_swish_stored_positions", .encoder_layer = fused_encoder,
       .decoder_layer = fused_decoder, .kinds = 15},
      {.tuning = "nvidia", .model = "ctranslate2/pre_swish_int8_separate", .encoder_layer = fused_encoder,
       .decoder_layer = {"qkv", "cached self attention", "self out proj", "cross q", "cross attention",
                         "cross out proj", "ffn1", "ffn2"},
       .kinds = 16},
      {.tuning = "generic", .model = "tiny_swish_shared",
       .encoder_layer = {"qkv", "self attention", "self out proj", "self norm", "ffn1", "ffn2", "ffn norm"},
       .decoder_layer = {"qkv + cached self attention", "self out proj", "self norm", "cross q + cross attention",
                         "cross out proj", "cross norm", "ffn1", "ffn2", "ffn norm"},
       .kinds = 15},
      {.tuning = "generic", .model = "ctranslate2/pre_swish_stored_positions",
       .encoder_layer = {"self pre-norm", "qkv", "self attention", "self out proj", "ffn pre-norm", "ffn1", "ffn2"},
       .decoder_layer = {"self pre-norm", "qkv + cached self attention", "self out proj", "cross pre-norm",
                         "cross q + cross attention", "cross out proj", "ffn pre-norm", "ffn1", "ffn2"},
       .kinds = 18},
      {.tuning = "generic", .model = "ctranslate2/pre_swish_int8_separate",
       .encoder_layer = {"self pre-norm", "qkv", "self attention", "self out proj", "ffn pre-norm", "ffn1", "ffn2"},
       .decoder_layer = {"self pre-norm", "qkv", "cached self attention", "self out proj", "cross pre-norm",
                         "cross q", "cross attention", "cross out proj", "ffn pre-norm", "ffn1", "ffn2"},
       .kinds = 19},
      {.tuning = "cpu", .model = "tiny_swish_shared",
       .encoder_layer = {"qkv", "self attention", "self out proj", "self norm", "ffn1", "ffn2", "ffn norm"},
       .decoder_layer = {"qkv", "cached self attention", "self out proj", "self norm", "cross q", "cross attention",
                         "cross out proj", "cross norm", "ffn1", "ffn2", "ffn norm"},
       .kinds = 16},
  };
  std::map<std::string, std::vector<Translation>> outputs;  // per model, under the first tuning
  for (const std::string tuning : {"nvidia", "generic", "cpu"}) {
    // One context at a time (see test_conformance).
    Context context(ContextOptions{.tuning = tuning, .validation = true});
    REQUIRE(context.tuning().fuse_norm == (tuning == "nvidia"));
    for (const auto& c : cases) {
      if (c.tuning != tuning) continue;
      INFO("tuning " << tuning << " model " << c.model);
      Engine translator(context, std::string(VKFORMER_TEST_DATA) + "/" + c.model, true);
      Profiler profiler(true);
      translator.set_observer(&profiler);
      const auto source = translator.encode(c.model.starts_with("ctranslate2") ? "s4 s11 s6 s14" : "Hello world");
      const auto translated = translator.translate({source, source}, {.beam = 2, .max_length = 8});
      // Fused or not, the same translation (the tokens; scores within rounding).
      const auto [first, inserted] = outputs.try_emplace(c.model, translated);
      if (!inserted) {
        for (size_t i = 0; i < translated.size(); ++i) {
          CHECK(translated[i].hypotheses.at(0).ids == first->second[i].hypotheses.at(0).ids);
          CHECK(std::abs(*translated[i].hypotheses[0].score - *first->second[i].hypotheses[0].score) < 1e-4);
        }
      }

      // Layer indices are in the layer names, not in the kinds.
      const auto kinds = all_kinds(profiler);
      for (const auto& kind : kinds) CHECK_FALSE(std::regex_search(kind, std::regex("L[0-9]")));
      CHECK(kinds.size() == c.kinds);
      CHECK(kinds_of(profiler, "encoder L0") == c.encoder_layer);
      CHECK(kinds_of(profiler, "encoder L1") == c.encoder_layer);
      CHECK(kinds_of(profiler, "decoder L0") == c.decoder_layer);
      // Each kind once per layer: the dispatches per layer.
      for (const auto& submit : profiler.submits()) {
        for (const auto& layer : submit.layers) {
          if (layer.name == "encoder L0") CHECK(layer.dispatches.size() == c.encoder_layer.size());
          if (layer.name == "decoder L0") CHECK(layer.dispatches.size() == c.decoder_layer.size());
        }
      }
      // The encoder's layers do what the decoder's self-attention and ffn do, under the same names, except the
      // attention itself: the encoder's attends over a whole sentence, the decoder's over its cache (another
      // kernel), and computes its q, k, v itself where it projects them.
      const bool projects = std::find(c.decoder_layer.begin(), c.decoder_layer.end(), "qkv") == c.decoder_layer.end();
      for (const auto& kind : c.encoder_layer) {
        if (kind == "self attention" || (kind == "qkv" && projects)) continue;
        CHECK(std::find(c.decoder_layer.begin(), c.decoder_layer.end(), kind) != c.decoder_layer.end());
      }
      CHECK(std::count(c.decoder_layer.begin(), c.decoder_layer.end(), "self attention") == 0);
      CHECK(kinds.count("top-k"));
      CHECK(!kinds.count("argmax"));

      check_chart(profiler.svg_chart({.device = context.info().name, .model = c.model, .beam = 2, .batch_size = 32,
                                      .sentences = 2, .wall_ms = 1.5}),
                  profiler, {.device = context.info().name, .model = c.model, .beam = 2, .batch_size = 32,
                             .sentences = 2, .wall_ms = 1.5});
    }
    testing::require_no_validation_messages(context);
  }
}

TEST_CASE("profile: chart colours are distinct for any number of kinds and do not depend on it", "[profile]") {
  const auto many = chart_colors(200);
  REQUIRE(many.size() == 200);
  CHECK(std::set<std::string>(many.begin(), many.end()).size() == many.size());
  for (const auto& color : many) CHECK(std::regex_match(color, std::regex("#[0-9a-f]{6}")));
  const auto few = chart_colors(22);
  CHECK(few == std::vector<std::string>(many.begin(), many.begin() + 22));
  CHECK(chart_colors(0).empty());
}

TEST_CASE("cli: profile decodes as translate does unless told otherwise, and its chart names the run", "[profile][cli]") {
  const std::string model = std::string(VKFORMER_TEST_DATA) + "/tiny_swish_shared";
  Context& context = testing::context_for();
  const Engine translator(context, model);
  const DecodeOptions expected = translator.model_decode_options();
  REQUIRE(expected.beam > 1);  // generation_config.json's num_beams
  const double d = translator.config().d_model;

  struct Case {
    std::string options;
    uint32_t beam;
    float length_penalty;
    uint32_t batch_size;
    double decoder_rows;  // per step: the sentences of a batch times the beam (powers of two here, as rows are)
  };
  for (const auto& c : {Case{"", expected.beam, expected.length_penalty, 32, 2.0 * expected.beam},
                        Case{"--beam 1 --length-penalty 0.5 --batch-size 1", 1, 0.5f, 1, 1}}) {
    INFO("options '" << c.options << "'");
    const testing::TempDir dir;
    const auto chart = (dir.path() / "chart.svg").string();
    const auto result = testing::run_cli(
        fmt::format("profile --model '{}' --json --chart '{}' {} Hello 'Where is the station?'", model, chart, c.options),
        "");
    CHECK(result.err.empty());
    REQUIRE(result.exit_code == 0);
    std::string out;
    for (const auto& line : result.out) out += line + "\n";
    const auto summary = nlohmann::json::parse(out);
    CHECK(summary["beam"] == c.beam);
    CHECK(summary["length_penalty"].get<float>() == Approx(c.length_penalty));
    CHECK(summary["batch_size"] == c.batch_size);
    CHECK(summary["model"] == model);
    CHECK(summary["sentences"] == 2);
    // The ceilings the rates are shares of: f16 where the device computes in f16 (lavapipe does).
    CHECK(summary["ceilings"]["gflops"].get<double>() > 0);
    CHECK(summary["ceilings"]["gbps"].get<double>() > 0);
    CHECK((summary["ceilings"]["gflops_f16"].get<double>() > 0) == context.float16());
    // The decoder ran the beam it reports: its rows, from the flops of a d x d matmul, are sentences x beam
    // while both sentences decode (fewer once one has finished).
    size_t steps = 0;
    double most_rows = 0;
    for (const auto& submit : summary["submits"]) {
      if (submit["kind"] == "encoder") continue;
      for (const auto& layer : submit["layers"]) {
        if (layer["name"] != "decoder L0") continue;
        ++steps;
        for (const auto& dispatch : layer["dispatches"]) {
          if (dispatch["label"] == "self out proj") {
            most_rows = std::max(most_rows, dispatch["flops"].get<double>() / (2 * d * d));
          }
        }
      }
    }
    CHECK(steps > 0);
    CHECK(most_rows == c.decoder_rows);

    std::ifstream file(chart);
    const std::string svg((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    CHECK(svg.find(fmt::format("device: {}", summary["device"].get<std::string>())) != std::string::npos);
    CHECK(svg.find(fmt::format("model: {}", model)) != std::string::npos);
    CHECK(svg.find(fmt::format("beam {}, batch size {}, 2 sentences | wall {:.1f} ms", c.beam, c.batch_size,
                               summary["wall_ms"].get<double>())) != std::string::npos);
  }
}

TEST_CASE("cli: bench ops measures the f32 and f16 peaks and the copy bandwidth", "[profile][cli]") {
  const auto result = testing::run_cli("bench ops --op peak --op copy --json --repeat 1", "");
  CHECK(result.err.empty());
  REQUIRE(result.exit_code == 0);
  std::string out;
  for (const auto& line : result.out) out += line + "\n";
  const auto report = nlohmann::json::parse(out);
  std::vector<std::string> variants;
  for (const auto& row : report["results"]) {
    INFO(row.dump());
    CHECK(row["rate"].get<double>() > 0);
    CHECK(row["unit"] == (row["op"] == "copy" ? "GB/s" : "GFLOPS"));
    variants.push_back(row["variant"]);
  }
  // lavapipe has shaderFloat16; a device without it lists the f16 peak as skipped, with the reason.
  REQUIRE(testing::context_for().float16());
  CHECK(variants == std::vector<std::string>{"peak_fma", "peak_fma_f16", "copy"});
  CHECK(report["skipped"].empty());
}

TEST_CASE("cli: bench ops times a top-k given as RxC:K", "[profile][cli]") {
  const auto result = testing::run_cli("bench ops --shape 3x1000:8 --json --repeat 1", "");
  CHECK(result.err.empty());
  REQUIRE(result.exit_code == 0);
  std::string out;
  for (const auto& line : result.out) out += line + "\n";
  const auto report = nlohmann::json::parse(out);
  REQUIRE(report["results"].size() == 1);
  const auto& row = report["results"][0];
  CHECK(row["op"] == "topk");
  CHECK(row["shape"] == "3x1000:8");
  CHECK(row["unit"] == "GB/s");
  CHECK(row["rate"].get<double>() > 0);
}
