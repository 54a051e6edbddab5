#pragma once
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "vkformer/context.hpp"
#include "vkformer/decode.hpp"
#include "vkformer/model/model.hpp"
#include "vkformer/model/package.hpp"
#include "vkformer/model/tokenizer.hpp"

namespace vkformer {

namespace translate {
class Weights;
class Workspace;
struct Plan;
struct Capacity;
}  // namespace translate

// One draw of random sampling: the index in log_probs (the top-k log-probabilities of a row) chosen with
// probability softmax(log_probs / temperature), for uniform in [0, 1). Pure, for tests.
uint32_t sample_index(std::span<const float> log_probs, float temperature, double uniform);
// The generator of the sentence at index `sentence` (first_sentence + its index in the call) with `seed`.
std::mt19937_64 sampling_generator(uint64_t seed, uint64_t sentence);
// A uniform double in [0, 1) from 53 bits of the generator (the same on every standard library).
double sampling_uniform(std::mt19937_64& generator);

// Called after every submit, for profiling: which plan ran ("encoder", "decoder step") and its sequences.
struct SubmitObserver {
  virtual ~SubmitObserver() = default;
  virtual void submitted(const std::string& kind, const translate::Plan& plan, double wall_ms) = 0;
};

// An encoder-decoder translation model on a Vulkan device.
class Engine {
 public:
  // A Marian or CTranslate2 model directory or an Argos Translate package (locate_model). weights: nullopt
  // keeps the weights as the model stores them (Marian: f16 matrices where stored so, else f32); Element::f16 stores the projection and output
  // matrices as f16 (half the memory and traffic), Element::i8 quantizes them per row, Element::f32 expands
  // them; compute stays f32. tokenized: input and output are tokens separated by spaces, for any model.
  Engine(Context& context, const std::filesystem::path& model_path, bool timestamps = false,
         std::optional<Element> weights = std::nullopt, bool tokenized = false);
  ~Engine();

  const ModelConfig& config() const;
  // What the model's own runtime does unless told otherwise: transformers' generate() with the model's
  // generation_config.json num_beams (capped at kMaxBeam) and length_penalty, or CTranslate2's
  // translate_batch defaults (beam 2, length penalty 1, 256 tokens), or for an Argos package argostranslate's
  // (beam 4, length penalty 0.2, 256 tokens, its target prefix).
  DecodeOptions model_decode_options() const;
  // The Argos package the model came from, if it did: languages and metadata.
  const std::optional<ArgosPackage>& package() const { return package_; }
  // Throws Error for a model without a tokenizer (a CTranslate2 directory: ids only).
  const Tokenizer& tokenizer() const;
  // Bytes of the model's weight buffers on the device.
  uint64_t weight_bytes() const;

  // Throws Error (one line) for invalid UTF-8 or a line longer than the model's positions. With `pieces`,
  // also each id's source piece (Tokenizer::encode).
  std::vector<uint32_t> encode(const std::string& text, std::vector<std::string>* pieces = nullptr) const;
  // Throws Error (one line) for a sentence whose buffers do not fit the device even alone, or whose
  // logits stop being finite (a numerical overflow).
  std::vector<Translation> translate(const std::vector<std::vector<uint32_t>>& sources, const DecodeOptions& options);
  std::vector<Translation> translate_text(const std::vector<std::string>& lines, const DecodeOptions& options);
  // The texts of a translation's hypotheses, from their ids: with options.replace_unknowns each target unk
  // is spelled as the source piece it attends to most (source_pieces: those of its input, cut as the input
  // was; see encode()). Their attention is dropped unless options.return_attention.
  void decode_hypotheses(Translation& translation, const std::vector<std::string>& source_pieces,
                         const DecodeOptions& options) const;
  // Per id of the hypothesis: the source piece replacing it (a target unk), else empty.
  std::vector<std::string> unknown_replacements(const Hypothesis& hypothesis,
                                                const std::vector<std::string>& source_pieces) const;

  // For tests against reference dumps: the encoder output of one padded batch, [sentences, bucket, d_model]
  // with the bucket length returned, and the logits of teacher-forced decoding, [sentences][step][vocab].
  std::vector<float> encoder_output(const std::vector<std::vector<uint32_t>>& sources, uint32_t& bucket);
  std::vector<std::vector<std::vector<float>>> forced_logits(const std::vector<std::vector<uint32_t>>& sources,
                                                             const std::vector<std::vector<uint32_t>>& decoder_inputs);

  void set_observer(SubmitObserver* observer) { observer_ = observer; }

 private:
  // The decoder steps a sentence of source_length ids may take (its tokens, eos included, after the prefix
  // and within max_length): the workspace's target capacity is its batch's longest's.
  uint32_t step_limit(uint32_t source_length, uint32_t max_length) const;
  // The step limit of each sentence of the batch in `ws` (from its source lengths in the state).
  std::vector<uint32_t> step_limits(const translate::Workspace& ws, uint32_t sentences, uint32_t max_length) const;
  translate::Capacity capacity_for(uint32_t sentences, uint32_t longest, uint32_t beam, uint32_t max_length,
                                   uint32_t sampling_topk = 1) const;
  std::string misfit(const translate::Capacity& capacity, uint64_t memory_limit) const;
  uint32_t sentences_that_fit(uint32_t wanted, uint32_t longest, const DecodeOptions& options,
                              uint32_t max_length) const;
  translate::Workspace& workspace_for(const translate::Capacity& wanted, uint32_t sentences, uint32_t beam,
                                      uint64_t memory_limit);
  void run_encoder(translate::Workspace& workspace, const std::vector<const std::vector<uint32_t>*>& sources);
  void submit(const std::string& kind, translate::Plan& plan);
  // generators: one per sentence of the batch when sampling, else empty.
  std::vector<Hypothesis> greedy(translate::Workspace& ws, uint32_t sentences, const DecodeOptions& options,
                                 uint32_t max_length, std::vector<std::mt19937_64>& generators);
  std::vector<std::vector<Hypothesis>> beam_search(translate::Workspace& ws, uint32_t sentences,
                                                   const DecodeOptions& options, uint32_t max_length);
  std::vector<std::vector<Hypothesis>> ctranslate2_beam_search(translate::Workspace& ws, uint32_t sentences,
                                                               const DecodeOptions& options, uint32_t max_length);

  Context& context_;
  std::unique_ptr<ModelSource> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<translate::Weights> weights_;
  std::unique_ptr<translate::Workspace> workspace_;
  std::optional<ArgosPackage> package_;
  std::optional<ArgosDecoding> package_decoding_;
  bool timestamps_ = false;
  SubmitObserver* observer_ = nullptr;
};

}  // namespace vkformer
