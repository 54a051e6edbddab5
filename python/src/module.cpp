// vkformer._vkformer: vkformer::Translator for Python, shaped like CTranslate2's Translator.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "vkformer/buffer.hpp"
#include "vkformer/context.hpp"
#include "vkformer/device_info.hpp"
#include "vkformer/error.hpp"
#include "vkformer/model/model.hpp"
#include "vkformer/model/model_file.hpp"
#include "vkformer/model/tokenizer.hpp"
#include "vkformer/engine.hpp"

namespace py = pybind11;

namespace vkformer::python {

namespace {

// None: the library's default, the weights as the model stores them. The CLI's names, and CTranslate2's.
std::optional<Element> parse_precision(const std::optional<std::string>& precision) {
  if (!precision) return std::nullopt;
  const std::pair<const char*, Element> aliases[] = {{"float32", Element::f32}, {"float16", Element::f16},
                                                     {"bfloat16", Element::bf16}, {"int8", Element::i8},
                                                     {"int16", Element::i16}};
  for (const auto& [alias, element] : aliases) {
    if (*precision == alias || *precision == element_name(element)) return element;
  }
  throw Error(fmt::format("precision '{}': use None, 'f32', 'f16', 'bf16', 'i8' or 'i16'", *precision));
}

std::string type_name(const py::handle& object) { return py::str(py::type::handle_of(object).attr("__name__")); }

// Source tokens to model ids and generated ids back to tokens, through the Marian directory's vocab.json
// (and target_vocab.json when tokenizer_config.json says separate_vocabs), as MarianTokenizer's
// convert_tokens_to_ids / convert_ids_to_tokens do: a token not in the vocabulary is <unk>.
class Vocabulary {
 public:
  explicit Vocabulary(const std::filesystem::path& directory) {
    const uint32_t vocab_size = read_marian_config(directory).vocab_size;
    const auto source_path = directory / "vocab.json";
    source_ = parse_vocab({source_path, read_model_file(source_path)}, vocab_size);
    const auto unk = source_.find("<unk>");
    if (unk == source_.end()) throw Error(fmt::format("'{}' has no '<unk>' entry", source_path.string()));
    unk_ = unk->second;
    auto target_path = source_path;
    const auto config_path = directory / "tokenizer_config.json";
    std::error_code error;
    if (std::filesystem::exists(config_path, error)) {
      const auto config = parse_json_object(read_model_file(config_path), config_path);
      if (config.value("separate_vocabs", nlohmann::json(false)) == true) target_path = directory / "target_vocab.json";
    }
    const auto target = target_path == source_path ? source_ : parse_vocab({target_path, read_model_file(target_path)}, vocab_size);
    target_.resize(vocab_size, "<unk>");
    for (const auto& [piece, id] : target) target_[id] = piece;
  }

  std::vector<uint32_t> ids(const std::vector<std::string>& tokens) const {
    std::vector<uint32_t> out;
    for (const auto& token : tokens) {
      const auto found = source_.find(token);
      out.push_back(found == source_.end() ? unk_ : found->second);
    }
    return out;
  }
  const std::string& token(uint32_t id) const { return target_.at(id); }

 private:
  std::unordered_map<std::string, uint32_t> source_;
  std::vector<std::string> target_;  // by id
  uint32_t unk_ = 0;
};

struct TranslationResult {
  py::list hypotheses;  // str, or list[str] for token input
  py::list scores;      // one per hypothesis with return_scores
  py::list attention;   // never filled: return_attention is refused
};

// One Vulkan device and one model. The device is driven by one thread at a time (Context is not
// thread-safe): calls from several Python threads wait for each other, with the GIL released.
class PyTranslator {
 public:
  PyTranslator(const std::filesystem::path& model_path, const py::object& device,
               const std::optional<std::string>& precision)
      : model_path_(model_path) {
    ContextOptions options;
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
    const auto weights = parse_precision(precision);
    py::gil_scoped_release release;
    context_ = std::make_unique<Context>(options);
    translator_ = weights ? std::make_unique<Engine>(*context_, model_path, false, *weights)
                          : std::make_unique<Engine>(*context_, model_path);
  }

  std::string device_name() const { return context_->info().name; }
  std::string model_path() const { return model_path_.string(); }

  std::vector<TranslationResult> translate_batch(const py::list& source, std::optional<long long> beam_size,
                                                 long long num_hypotheses, std::optional<double> length_penalty,
                                                 std::optional<long long> max_decoding_length,
                                                 std::optional<long long> max_batch_size, bool return_scores,
                                                 bool return_attention, long long sampling_topk,
                                                 double sampling_temperature, long long sampling_seed) {
    if (return_attention) {
      throw Error("return_attention: vkformer does not return attention weights (its attention kernels keep them on the device)");
    }
    DecodeOptions options = translator_->model_decode_options();
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
    std::vector<std::vector<uint32_t>> ids;
    for (size_t i = 0; i < source.size(); ++i) {
      const py::handle item = source[i];
      const bool is_tokens = py::isinstance<py::list>(item) || py::isinstance<py::tuple>(item);
      if (!is_tokens && !py::isinstance<py::str>(item)) {
        throw py::type_error(fmt::format("source[{}] is {}: give a str, or a list of str tokens", i, type_name(item)));
      }
      if (i == 0) tokens = is_tokens;
      if (is_tokens != tokens) throw py::type_error("source mixes strings and token lists: give one kind");
      ids.push_back(tokens ? token_ids(item, i) : text_ids(item, i));
    }

    std::vector<Translation> translations;
    {
      py::gil_scoped_release release;
      std::lock_guard lock(mutex_);
      translations = translator_->translate(ids, options);
      if (!tokens) {
        for (auto& translation : translations) {
          for (auto& hypothesis : translation.hypotheses) hypothesis.text = translator_->tokenizer().decode(hypothesis.ids);
        }
      }
    }

    std::vector<TranslationResult> results(translations.size());
    for (size_t i = 0; i < translations.size(); ++i) {
      for (const auto& hypothesis : translations[i].hypotheses) {
        if (tokens) {
          py::list pieces;
          for (uint32_t id : hypothesis.ids) {
            // As CTranslate2: the hypothesis ends before </s>.
            if (id == translator_->config().eos_id) break;
            pieces.append(vocabulary().token(id));
          }
          results[i].hypotheses.append(pieces);
        } else {
          results[i].hypotheses.append(hypothesis.text);
        }
        if (return_scores) results[i].scores.append(hypothesis.score.value_or(NAN));
      }
    }
    return results;
  }

 private:
  std::vector<uint32_t> text_ids(const py::handle& item, size_t index) {
    Py_ssize_t size = 0;
    const char* utf8 = PyUnicode_AsUTF8AndSize(item.ptr(), &size);
    if (!utf8) {
      // A lone surrogate, as Python's surrogateescape makes of undecodable bytes.
      PyErr_Clear();
      throw Error(fmt::format("source[{}]: input is not valid UTF-8", index));
    }
    try {
      return translator_->encode(std::string(utf8, size_t(size)));
    } catch (const Error& e) {
      throw Error(fmt::format("source[{}]: {}", index, e.what()));
    }
  }

  std::vector<uint32_t> token_ids(const py::handle& item, size_t index) {
    std::vector<std::string> pieces;
    for (const py::handle token : item) {
      if (!py::isinstance<py::str>(token)) {
        throw py::type_error(fmt::format("source[{}] holds a {}: tokens are str", index, type_name(token)));
      }
      Py_ssize_t size = 0;
      const char* utf8 = PyUnicode_AsUTF8AndSize(token.ptr(), &size);
      if (!utf8) {
        PyErr_Clear();
        throw Error(fmt::format("source[{}]: a token is not valid UTF-8", index));
      }
      pieces.emplace_back(utf8, size_t(size));
    }
    if (pieces.empty()) throw Error(fmt::format("source[{}] is an empty token list", index));
    const uint32_t positions = translator_->config().max_positions;
    if (pieces.size() > positions) {
      throw Error(fmt::format("source[{}]: input of {} tokens is longer than the model's {} positions", index,
                              pieces.size(), positions));
    }
    return vocabulary().ids(pieces);
  }

  // Read on the first token input: text input never needs it.
  const Vocabulary& vocabulary() {
    if (!vocabulary_) vocabulary_ = std::make_unique<Vocabulary>(model_path_);
    return *vocabulary_;
  }

  std::filesystem::path model_path_;
  std::unique_ptr<Context> context_;
  std::unique_ptr<Engine> translator_;
  std::unique_ptr<Vocabulary> vocabulary_;
  std::mutex mutex_;
};

py::list devices() {
  std::vector<DeviceInfo> found;
  {
    py::gil_scoped_release release;
    Instance instance;
    found = describe_devices(instance.handle());
  }
  py::list out;
  for (const auto& device : found) {
    py::dict entry;
    entry["index"] = device.index;
    entry["name"] = device.name;
    entry["type"] = device.type_name();
    entry["vendor"] = device.vendor_name();
    entry["driver"] = device.driver_name;
    entry["api_version"] = device.api_version_string();
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
      .def_readonly("attention", &TranslationResult::attention, "Always empty: attention is not returned")
      .def("__repr__", [](const TranslationResult& r) {
        return "TranslationResult(hypotheses=" + std::string(py::repr(r.hypotheses)) +
               ", scores=" + std::string(py::repr(r.scores)) + ")";
      });

  py::class_<PyTranslator>(m, "Translator")
      .def(py::init<const std::filesystem::path&, const py::object&, const std::optional<std::string>&>(),
           py::arg("model_path"), py::arg("device") = py::none(), py::arg("precision") = py::none())
      .def_property_readonly("device", &PyTranslator::device_name)
      .def_property_readonly("model_path", &PyTranslator::model_path)
      .def("translate_batch", &PyTranslator::translate_batch, py::arg("source"), py::kw_only(),
           py::arg("beam_size") = py::none(), py::arg("num_hypotheses") = 1, py::arg("length_penalty") = py::none(),
           py::arg("max_decoding_length") = py::none(), py::arg("max_batch_size") = py::none(),
           py::arg("return_scores") = false, py::arg("return_attention") = false, py::arg("sampling_topk") = 1,
           py::arg("sampling_temperature") = 1.0, py::arg("sampling_seed") = 0);

  m.def("devices", &devices, "The Vulkan devices: index, name, type, vendor, driver, api_version");
}
