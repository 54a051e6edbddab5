#pragma once
// Device buffers and recorded command buffers. The buffers are allocated for a capacity and serve every
// batch within it; the encoder is recorded once per batch-size bucket and the decoder step once per
// row-count bucket, for the current source-length bucket; both are replayed for every batch and every
// step, with run-time values (step, tokens, trace, lengths) in the host-written `state`.
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "vkformer/buffer.hpp"
#include "vkformer/ops/embed_position.hpp"
#include "vkformer/sequence.hpp"
#include "weights.hpp"

namespace vkformer::translate {

// A list of recorded sequences submitted together (one vkQueueSubmit).
struct Plan {
  std::vector<std::unique_ptr<Sequence>> sequences;
  std::vector<vk::CommandBuffer> command_buffers;
  void finish();
};

struct Capacity {
  uint32_t sentences = 1;  // most sentences in a batch
  uint32_t source = 1;     // source positions per sentence (the bucket)
  uint32_t rows = 1;       // most decoder rows (sentences x beam)
  uint32_t target = 1;     // KV cache slots per row (decoder steps)
  uint32_t top_k = 1;      // candidates per row read back in beam search
};

// Where a decoder step applies the logit edits: nowhere, to the logits (CTranslate2; transformers' greedy
// search and sampling), or to their log-softmax (transformers' beam search), which top-k then takes as is.
enum class Edits : uint32_t { none, logits, log_probs };

class Workspace {
 public:
  Workspace(Context& context, const Weights& weights, const Capacity& capacity, bool timestamps);

  // Every buffer of a workspace of `capacity` by name, in bytes: the constructor allocates exactly these
  // (and a host copy of the state where that is not mapped), so batches can be sized before allocating.
  static std::map<std::string, uint64_t> buffer_bytes(const ModelConfig& config, const Capacity& capacity);

  const Capacity& capacity() const { return capacity_; }
  // The batch being decoded: its source bucket (plans are recorded for it; a new one drops them) and
  // decoder steps, within capacity(); its other fields are unused.
  void set_shape(const Capacity& shape);
  const Capacity& shape() const { return shape_; }

  // The state buffer: [step | decoder ids | trace | row -> sentence | source lengths | source ids |
  // decoder positions | source positions], written by the host before each submit. The positions index
  // the position tables of models that have them (ModelConfig::position_table).
  uint32_t* state() { return static_cast<uint32_t*>((state_host_.mapped() ? state_host_ : state_).mapped_pointer()); }
  const uint32_t* state() const {
    return static_cast<const uint32_t*>((state_host_.mapped() ? state_host_ : state_).mapped_pointer());
  }
  uint32_t ids_offset() const { return 1; }
  uint32_t trace_offset() const { return 1 + capacity_.rows; }
  uint32_t sentence_offset() const { return trace_offset() + capacity_.rows * capacity_.target; }
  uint32_t length_offset() const { return sentence_offset() + capacity_.rows; }
  uint32_t source_ids_offset() const { return length_offset() + capacity_.sentences; }
  uint32_t decoder_position_offset() const { return source_ids_offset() + capacity_.sentences * capacity_.source; }
  uint32_t source_position_offset() const { return decoder_position_offset() + capacity_.rows; }
  static uint64_t state_words(const Capacity& c) {
    return 1 + 3 * uint64_t(c.rows) + uint64_t(c.rows) * c.target + c.sentences + 2 * uint64_t(c.sentences) * c.source;
  }
  // Before a decoder step: the step index, and the position of the first `rows` rows.
  void set_step(uint32_t step, uint32_t rows);

  Plan& encoder(uint32_t sentences);                  // sentences: a bucket <= capacity
  // top_k 0: greedy (argmax); ban_end: the end token may not be chosen (a minimum decoding length);
  // scores: the alignment layer's cross attention also writes its scores, for attention();
  // edits: where the step applies the host-written edits() before choosing.
  Plan& decoder(uint32_t rows, uint32_t top_k, bool ban_end = false, Edits edits = Edits::none, bool scores = false);

  // The logit edits of the next decoder step (repetition penalty, banned n-grams) in logits_edit.hpp's
  // layout: the penalty, then edits_stride() words per row. Host-visible and read where it is: a few words
  // per row, once per step, so not in the state, which every plan copies to the device.
  uint32_t* edits() { return static_cast<uint32_t*>(edits_.mapped_pointer()); }
  uint32_t edits_stride() const { return 1 + capacity_.target; }  // a row's history holds at most `target` ids

  std::vector<uint32_t> argmax_ids(uint32_t rows) const { return next_ids_.download<uint32_t>(rows); }
  std::vector<uint32_t> top_ids(uint32_t rows, uint32_t k) const { return top_ids_.download<uint32_t>(size_t(rows) * k); }
  std::vector<float> top_values(uint32_t rows, uint32_t k) const { return top_values_.download<float>(size_t(rows) * k); }
  std::vector<float> logits(uint32_t rows) const;
  // After a step whose plan wrote scores: each row's attention over its sentence's source positions in
  // the alignment layer (ModelConfig::alignment_layer), the softmax of each head's scores averaged over
  // the first alignment_heads heads (0: all).
  std::vector<std::vector<float>> attention(uint32_t rows) const;
  std::vector<float> encoder_output(uint32_t sentences) const;

 private:
  void record_encoder(Plan& plan, uint32_t sentences);
  void record_decoder(Plan& plan, uint32_t rows, uint32_t top_k, bool ban_end, Edits edits, bool scores);
  uint32_t alignment_layer() const;
  Sequence& add_sequence(Plan& plan, const std::string& name);
  void record_embedding(Sequence& s, const RowBlocks& table, const RowBlocks& positions, uint32_t ids_offset,
                        uint32_t position_offset, float scale, const PositionEncoding& encoding, View out, View tmp,
                        uint32_t rows);

  Context& context_;
  const Weights& weights_;
  Capacity capacity_, shape_;
  bool timestamps_;
  // Shaders read `state_`, device-local on GPUs (the attention loop reads the trace table per key: over
  // PCIe from host memory that would be a round trip each). There the host writes `state_host_`, which
  // each plan's first sequence copies over; on unified memory `state_` is mapped and written directly.
  Buffer state_, state_host_;
  void record_state_upload(Sequence& s);
  // One counter per row block for the matmuls with a fused LayerNorm; none where the tuning does not fuse.
  Buffer norm_counters_;
  View norm_counters();
  Buffer enc_x_, enc_qkv_, enc_ctx_, enc_tmp_, enc_ffn_;
  std::vector<Buffer> cross_kv_;
  Buffer dec_y_, dec_qkv_, dec_q_, dec_ctx_, dec_tmp_, dec_ffn_, logits_;
  std::vector<Buffer> caches_;
  Buffer next_ids_, top_ids_, top_values_, scores_, edits_;
  std::map<uint32_t, std::unique_ptr<Plan>> encoder_plans_;
  std::map<std::tuple<uint32_t, uint32_t, bool, Edits, bool>, std::unique_ptr<Plan>> decoder_plans_;
};

}  // namespace vkformer::translate
