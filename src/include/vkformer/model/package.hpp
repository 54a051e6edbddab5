#pragma once
// Opening "a model path" of any kind: a Hugging Face Marian directory, a CTranslate2 model directory, or an
// Argos Translate package (the .argosmodel zip or its unpacked directory).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vkformer/model/model.hpp"
#include "vkformer/model/tokenizer.hpp"

namespace vkformer {

enum class ModelFormat { marian, ctranslate2 };

// An Argos Translate package's metadata.json (the fields argostranslate reads) and what it holds. A package
// is a zip of one directory: metadata.json, model/ (a CTranslate2 model), sentencepiece.model, optionally a
// sentence splitter (stanza/, minisbd/ or spacy/, which vkformer does not use: one line is one sentence)
// and README.md.
struct ArgosPackage {
  std::filesystem::path directory;  // the unpacked package (the cache directory for a zip)
  std::filesystem::path archive;    // the .argosmodel it was unpacked from; empty when given as a directory
  std::string type = "translate", from_code, to_code, from_name, to_name, package_version, argos_version;
  std::string target_prefix;      // one target token every translation starts with; empty: none
  std::string sentence_splitter;  // "stanza", "minisbd", "spacy" or empty
  bool has_readme = false;
};

// metadata.json's text parsed; `path` names it in messages. Every field argostranslate reads must have its
// type (strings; from_code and to_code present and non-empty; type "translate").
ArgosPackage parse_argos_metadata(const JsonText& metadata);

// How argostranslate (1.9 to 1.11) asks CTranslate2 to translate a package's sentences.
struct ArgosDecoding {
  uint32_t beam = 4;                   // ARGOS_BEAM_SIZE's default
  uint32_t num_hypotheses = 1;         // translate() takes the best
  float length_penalty = 0.2f;         // score / length^0.2
  uint32_t max_decoding_length = 256;  // CTranslate2's count, without the start token: vkformer's max_length is 257
  uint32_t min_decoding_length = 1;    // CTranslate2's default: eos is not the first token (the prefix counts)
  uint32_t max_input_length = 1024;    // longer inputs are truncated
  bool replace_unknowns = true;        // unk replaced by the source token with the most attention
};

// Everything needed to run one model, found from the path a user gave.
struct ModelLocation {
  std::filesystem::path given;            // as the user gave it
  std::filesystem::path model_directory;  // where the weights are: model/ in an Argos package
  ModelFormat format = ModelFormat::marian;
  std::unique_ptr<ModelSource> model;
  std::unique_ptr<Tokenizer> tokenizer;
  std::optional<ArgosPackage> package;
  std::optional<ArgosDecoding> decoding;  // a package's defaults; otherwise the model's own (ModelConfig)
};

// `given` may be a Marian directory (config.json + model.safetensors), a CTranslate2 directory (model.bin),
// an Argos package directory (metadata.json) or an .argosmodel file, unpacked once into the package cache
// (see package_cache_directory) and reused. The tokenizer: source.spm + target.spm beside the model
// (Marian's), an Argos package's sentencepiece.model, else pre-tokenized input; `force_tokenized` takes
// pre-tokenized input for any model. Throws Error (one line naming the file and the field or entry).
ModelLocation locate_model(const std::filesystem::path& given, bool force_tokenized = false);

// Where .argosmodel files are unpacked: $VKFORMER_CACHE_DIR/packages, else $XDG_CACHE_HOME/vkformer/packages,
// else ~/.cache/vkformer/packages (as the pipeline cache).
std::filesystem::path package_cache_directory();

// Unpacks the zip `archive` into a new directory `destination` (which must not exist), refusing entries
// that would land outside it (absolute paths, "..", backslashes), links and other special files, encrypted
// entries, duplicate names, more than 100,000 entries or 16 GiB, and data that does not match its header
// (size or CRC). Extraction goes to a temporary directory beside `destination`, renamed into place when
// complete, so another process sees all of the package or nothing; if another process completed it first,
// its copy is kept. Throws Error naming the archive and the entry.
void unpack_zip(const std::filesystem::path& archive, const std::filesystem::path& destination);

// The unpacked package for an .argosmodel file: package_cache_directory() / "<file stem>-<size>-<hash of the
// zip's directory of names, sizes and CRCs>", unpacked first if it is not there yet.
std::filesystem::path unpacked_package(const std::filesystem::path& archive);

}  // namespace vkformer
