// vkformer._vkformer: the public vkformer::Translator for Python, shaped like CTranslate2's Translator.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <cmath>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "vkformer/vkformer.hpp"

namespace py = pybind11;

namespace vkformer::python {

namespace {

// None: the library's default, the weights as the model stores them. The CLI's names, and CTranslate2's.
std::optional<Precision> parse_precision(const std::optional<std::string>& precision) {
  if (!precision) return std::nullopt;
  const std::pair<const char*, Precision> names[] = {
      {"f32", Precision::f32},      {"f16", Precision::f16},       {"bf16", Precision::bf16},
      {"i8", Precision::i8},        {"i16", Precision::i16},       {"float32", Precision::f32},
      {"float16", Precision::f16},  {"bfloat16", Precision::bf16}, {"int8", Precision::i8},
      {"int16", Precision::i16}};
  for (const auto& [name, value] : names) {
    if (*precision == name) return value;
  }
  throw Error(fmt::format("precision '{}': use None, 'f32', 'f16', 'bf16', 'i8' or 'i16'", *precision));
}

std::string type_name(const py::handle& object) { return py::str(py::type::handle_of(object).attr("__name__")); }

struct TranslationResult {
  py::list hypotheses;  // str, or list[str] for token input
  py::list scores;      // one per hypothesis with return_scores
  py::list attention;   // one per hypothesis with return_attention: per target token, weights over the source
};

// One Vulkan device and one model. Translator serialises its calls: calls from several Python threads
// wait for each other, with the GIL released.
class PyTranslator {
 public:
  PyTranslator(const std::filesystem::path& model_path, const py::object& device,
               const std::optional<std::string>& precision, const py::object& cpu_threads)
      : model_path_(model_path) {
    TranslatorOptions options;
    if (py::isinstance<py::bool_>(device)) {
      throw py::type_error("device must be None, a device index (int) or a name (str), not bool");
    } else if (py::isinstance<py::int_>(device)) {
      const auto index = device.cast<long long>();
      if (index < 0) throw Error(fmt::format("device {}: an index is 0 or more (vkformer.devices())", index));
      options.device = std::to_string(index);
    } else if (py::isinstance<py::str>(device)) {
      options.device = device.cast<std::string>();
      if (options.device == "auto") options.device.clear();
    } else if (!device.is_none()) {
      throw py::type_error(fmt::format("device must be None, a device index (int) or a name (str), not {}",
                                       type_name(device)));
    }
    options.precision = parse_precision(precision);
    if (!cpu_threads.is_none()) {
      if (py::isinstance<py::bool_>(cpu_threads) || !py::isinstance<py::int_>(cpu_threads)) {
        throw py::type_error(fmt::format("cpu_threads must be None or an int, not {}", type_name(cpu_threads)));
      }
      const auto threads = cpu_threads.cast<long long>();
      if (threads < 0 || threads > 256) throw Error(fmt::format("cpu_threads {}: it is 0 to 256", threads));
      options.cpu_threads = uint32_t(threads);
    }
    py::gil_scoped_release release;
    translator_.emplace(model_path, options);
  }

  std::string device_name() const { return translator_->device_name(); }
  std::string model_path() const { return model_path_.string(); }

  std::vector<TranslationResult> translate_batch(const py::list& source, std::optional<long long> beam_size,
                                                 long long num_hypotheses, std::optional<double> length_penalty,
                                                 std::optional<long long> max_decoding_length,
                                                 std::optional<long long> max_batch_size, bool return_scores,
                                                 bool return_attention, long long sampling_topk,
                                                 double sampling_temperature, long long sampling_seed,
                                                 double repetition_penalty, long long no_repeat_ngram_size,
                                                 std::optional<bool> replace_unknowns) {
    DecodeOptions options = translator_->model_decode_options();
    options.return_attention = return_attention;
    // None: the model's default (an Argos package replaces, as argostranslate asks CTranslate2 to).
    if (replace_unknowns) options.replace_unknowns = *replace_unknowns;
    if (beam_size) {
      if (*beam_size < 1 || *beam_size > kMaxBeam) {
        throw Error(fmt::format("beam_size {}: it must be between 1 and {}", *beam_size, kMaxBeam));
      }
      options.beam = uint32_t(*beam_size);
    }
    if (num_hypotheses < 1 || num_hypotheses > options.beam) {
      throw Error(fmt::format("num_hypotheses {}: it must be between 1 and the beam size {}", num_hypotheses, options.beam));
    }
    options.n_best = uint32_t(num_hypotheses);
    // The engine checks the values (sampling needs beam_size 1, a topk within its kernel's limit).
    if (sampling_topk < 1 || sampling_topk > 1024) throw Error(fmt::format("sampling_topk {}: it must be at least 1", sampling_topk));
    if (sampling_seed < 0) throw Error(fmt::format("sampling_seed {}: it must be 0 or more", sampling_seed));
    options.sampling_topk = uint32_t(sampling_topk);
    options.sampling_temperature = float(sampling_temperature);
    options.seed = uint64_t(sampling_seed);
    if (no_repeat_ngram_size < 0 || no_repeat_ngram_size > (1ll << 30)) {
      throw Error(fmt::format("no_repeat_ngram_size {}: it must be between 0 (off) and 2^30", no_repeat_ngram_size));
    }
    options.repetition_penalty = float(repetition_penalty);  // the engine checks it is above 0
    options.no_repeat_ngram_size = uint32_t(no_repeat_ngram_size);
    if (length_penalty) {
      if (!std::isfinite(*length_penalty)) throw Error(fmt::format("length_penalty {}: it must be finite", *length_penalty));
      options.length_penalty = float(*length_penalty);
    }
    if (max_decoding_length) {
      // vkformer's max_length counts the decoder start token, as transformers does.
      if (*max_decoding_length < 1 || *max_decoding_length > (1ll << 30)) {
        throw Error(fmt::format("max_decoding_length {}: it must be between 1 and 2^30", *max_decoding_length));
      }
      options.max_length = uint32_t(*max_decoding_length + 1);
    }
    if (max_batch_size && *max_batch_size != 0) {
      if (*max_batch_size < 0 || *max_batch_size > 4096) {
        throw Error(fmt::format("max_batch_size {}: it must be between 0 (vkformer's default) and 4096", *max_batch_size));
      }
      options.batch_sentences = uint32_t(*max_batch_size);
    }

    bool tokens = false;
    std::vector<std::string> lines;
    std::vector<std::vector<std::string>> token_lists;
    for (size_t i = 0; i < source.size(); ++i) {
      const py::handle item = source[i];
      const bool is_tokens = py::isinstance<py::list>(item) || py::isinstance<py::tuple>(item);
      if (!is_tokens && !py::isinstance<py::str>(item)) {
        throw py::type_error(fmt::format("source[{}] is {}: give a str, or a list of str tokens", i, type_name(item)));
      }
      if (i == 0) tokens = is_tokens;
      if (is_tokens != tokens) throw py::type_error("source mixes strings and token lists: give one kind");
      if (tokens) {
        token_lists.push_back(token_strings(item, i));
      } else {
        lines.push_back(utf8(item, fmt::format("source[{}]: input is not valid UTF-8", i)));
      }
    }

    std::vector<Translation> translations;
    {
      py::gil_scoped_release release;
      translations = tokens ? translator_->translate_tokens(token_lists, options)
                            : translator_->translate_text(lines, options);
    }

    std::vector<TranslationResult> results(translations.size());
    for (size_t i = 0; i < translations.size(); ++i) {
      for (const auto& hypothesis : translations[i].hypotheses) {
        if (tokens) {
          results[i].hypotheses.append(py::cast(hypothesis.tokens));
        } else {
          results[i].hypotheses.append(hypothesis.text);
        }
        if (return_scores) results[i].scores.append(hypothesis.score.value_or(NAN));
        if (return_attention) {
          // Token input as CTranslate2: a vector per hypothesis token (none for </s>); text: one per id.
          const auto& all = hypothesis.attention;
          const size_t count = tokens ? std::min(hypothesis.tokens.size(), all.size()) : all.size();
          results[i].attention.append(py::cast(std::vector<std::vector<float>>(all.begin(), all.begin() + long(count))));
        }
      }
    }
    return results;
  }

 private:
  // The UTF-8 of a str; `failure` for a lone surrogate, as Python's surrogateescape makes of undecodable bytes.
  static std::string utf8(const py::handle& text, const std::string& failure) {
    Py_ssize_t size = 0;
    const char* bytes = PyUnicode_AsUTF8AndSize(text.ptr(), &size);
    if (!bytes) {
      PyErr_Clear();
      throw Error(failure);
    }
    return std::string(bytes, size_t(size));
  }

  static std::vector<std::string> token_strings(const py::handle& item, size_t index) {
    std::vector<std::string> pieces;
    for (const py::handle token : item) {
      if (!py::isinstance<py::str>(token)) {
        throw py::type_error(fmt::format("source[{}] holds a {}: tokens are str", index, type_name(token)));
      }
      pieces.push_back(utf8(token, fmt::format("source[{}]: a token is not valid UTF-8", index)));
    }
    return pieces;
  }

  std::filesystem::path model_path_;
  std::optional<Translator> translator_;
};

py::list devices() {
  std::vector<DeviceDescription> found;
  {
    py::gil_scoped_release release;
    found = vkformer::devices();
  }
  py::list out;
  for (const auto& device : found) {
    py::dict entry;
    entry["index"] = device.index;
    entry["name"] = device.name;
    entry["type"] = device.type;
    entry["vendor"] = device.vendor;
    entry["driver"] = device.driver;
    entry["api_version"] = device.api_version;
    out.append(entry);
  }
  return out;
}

}  // namespace

}  // namespace vkformer::python

PYBIND11_MODULE(_vkformer, m) {
  using namespace vkformer::python;
  m.doc() = "Transformer translation models (Marian / opus-mt) on Vulkan devices";
  py::register_exception<vkformer::Error>(m, "Error", PyExc_RuntimeError);

  py::class_<TranslationResult>(m, "TranslationResult")
      .def_readonly("hypotheses", &TranslationResult::hypotheses, "Best first: str, or list of str tokens")
      .def_readonly("scores", &TranslationResult::scores, "One per hypothesis with return_scores=True")
      .def_readonly("attention", &TranslationResult::attention,
                    "One per hypothesis with return_attention=True: per target token, its weights over the source")
      .def("__repr__", [](const TranslationResult& r) {
        return "TranslationResult(hypotheses=" + std::string(py::repr(r.hypotheses)) +
               ", scores=" + std::string(py::repr(r.scores)) + ")";
      });

  py::class_<PyTranslator>(m, "Translator")
      .def(py::init<const std::filesystem::path&, const py::object&, const std::optional<std::string>&,
                    const py::object&>(),
           py::arg("model_path"), py::arg("device") = py::none(), py::arg("precision") = py::none(),
           py::arg("cpu_threads") = py::none())
      .def_property_readonly("device", &PyTranslator::device_name)
      .def_property_readonly("model_path", &PyTranslator::model_path)
      .def("translate_batch", &PyTranslator::translate_batch, py::arg("source"), py::kw_only(),
           py::arg("beam_size") = py::none(), py::arg("num_hypotheses") = 1, py::arg("length_penalty") = py::none(),
           py::arg("max_decoding_length") = py::none(), py::arg("max_batch_size") = py::none(),
           py::arg("return_scores") = false, py::arg("return_attention") = false, py::arg("sampling_topk") = 1,
           py::arg("sampling_temperature") = 1.0, py::arg("sampling_seed") = 0, py::arg("repetition_penalty") = 1.0,
           py::arg("no_repeat_ngram_size") = 0, py::arg("replace_unknowns") = py::none());

  m.def("devices", &devices, "The Vulkan devices: index, name, type, vendor, driver, api_version");
}
