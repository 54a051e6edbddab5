// The public Translator: a Context and an Engine behind a mutex, with every failure made an Error.
#include "vkformer/translator.hpp"

#include <algorithm>
#include <mutex>

#include <fmt/format.h>

#include "guard.hpp"
#include "vkformer/context.hpp"
#include "vkformer/engine.hpp"
#include "vkformer/error.hpp"

namespace vkformer {

namespace {

std::optional<Element> element(std::optional<Precision> precision) {
  if (!precision) return std::nullopt;
  switch (*precision) {
    case Precision::f32: return Element::f32;
    case Precision::f16: return Element::f16;
    case Precision::bf16: return Element::bf16;
    case Precision::i8: return Element::i8;
    case Precision::i16: return Element::i16;
  }
  throw Error(fmt::format("precision {}: not a vkformer::Precision", int(*precision)));
}

std::unique_ptr<Context> open_context(const TranslatorOptions& options) {
  std::lock_guard lock(instance_setup_mutex());
  return std::make_unique<Context>(ContextOptions{.device = options.device, .cpu_threads = options.cpu_threads});
}

}  // namespace

struct Translator::Impl {
  Impl(const std::filesystem::path& model_path, const TranslatorOptions& options)
      : context(open_context(options)),
        engine(*context, model_path, false, element(options.precision), options.tokenized) {}

  std::unique_ptr<Context> context;
  Engine engine;
  // Context and Engine are driven by one thread at a time: this serialises the calls.
  std::mutex mutex;
};

Translator::Translator(const std::filesystem::path& model_path, const TranslatorOptions& options)
    : impl_(guarded([&] { return std::make_unique<Impl>(model_path, options); })) {}

Translator::~Translator() = default;
Translator::Translator(Translator&&) noexcept = default;
Translator& Translator::operator=(Translator&&) noexcept = default;

// What the Engine was made with, read without the lock: nothing changes it after construction.
DecodeOptions Translator::model_decode_options() const {
  return guarded([&] { return impl_->engine.model_decode_options(); });
}

std::vector<Translation> Translator::translate_text(const std::vector<std::string>& lines,
                                                    const DecodeOptions& options) const {
  return guarded([&] {
    std::lock_guard lock(impl_->mutex);
    Engine& engine = impl_->engine;
    std::vector<std::vector<uint32_t>> sources;
    std::vector<std::vector<std::string>> pieces(lines.size());
    for (size_t i = 0; i < lines.size(); ++i) {
      try {
        sources.push_back(engine.encode(lines[i], options.replace_unknowns ? &pieces[i] : nullptr));
      } catch (const Error& e) {
        throw Error(fmt::format("source[{}]: {}", i, e.what()));
      }
    }
    auto translations = engine.translate(sources, options);
    for (size_t i = 0; i < translations.size(); ++i) engine.decode_hypotheses(translations[i], pieces[i], options);
    return translations;
  });
}

std::vector<Translation> Translator::translate_tokens(const std::vector<std::vector<std::string>>& sources,
                                                      const DecodeOptions& options) const {
  return guarded([&] {
    std::lock_guard lock(impl_->mutex);
    Engine& engine = impl_->engine;
    const Tokenizer& tokenizer = engine.tokenizer();
    const ModelConfig& config = engine.config();
    std::vector<std::vector<uint32_t>> ids;
    std::vector<std::vector<std::string>> pieces;  // each id's token, for replace_unknowns
    for (size_t i = 0; i < sources.size(); ++i) {
      if (sources[i].empty()) throw Error(fmt::format("source[{}] is an empty token list", i));
      auto& source = ids.emplace_back(tokenizer.token_ids(sources[i]));
      auto& source_pieces = pieces.emplace_back(sources[i]);
      // CTranslate2 adds the tokens its config.json names; transformers leaves that to the tokenizer.
      if (config.ctranslate2_decoding && config.add_source_bos) {
        source.insert(source.begin(), tokenizer.bos_id());
        source_pieces.insert(source_pieces.begin(), "");
      }
      if (config.ctranslate2_decoding && config.add_source_eos) {
        source.push_back(tokenizer.eos_id());
        source_pieces.emplace_back();
      }
      if (source.size() > config.max_positions) {
        throw Error(fmt::format("source[{}]: input of {} tokens is longer than the model's {} positions", i,
                                source.size(), config.max_positions));
      }
    }
    auto translations = engine.translate(ids, options);
    for (size_t i = 0; i < translations.size(); ++i) {
      for (auto& hypothesis : translations[i].hypotheses) {
        const auto replacements = options.replace_unknowns ? engine.unknown_replacements(hypothesis, pieces[i])
                                                           : std::vector<std::string>{};
        const size_t end = size_t(std::find(hypothesis.ids.begin(), hypothesis.ids.end(), config.eos_id) -
                                  hypothesis.ids.begin());
        for (size_t t = 0; t < end; ++t) {
          const bool replaced = t < replacements.size() && !replacements[t].empty();
          hypothesis.tokens.push_back(replaced ? replacements[t] : tokenizer.target_token(hypothesis.ids[t]));
        }
        if (!options.return_attention) hypothesis.attention.clear();
      }
    }
    return translations;
  });
}

std::string Translator::device_name() const { return impl_->context->info().name; }

std::string Translator::source_language() const {
  const auto& package = impl_->engine.package();
  return package ? package->from_code : "";
}

std::string Translator::target_language() const {
  const auto& package = impl_->engine.package();
  return package ? package->to_code : "";
}

}  // namespace vkformer
