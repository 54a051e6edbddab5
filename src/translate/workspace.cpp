#include "workspace.hpp"

#include <cmath>

#include <fmt/format.h>

#include "vkformer/error.hpp"
#include "vkformer/ops/argmax.hpp"
#include "vkformer/ops/attention.hpp"
#include "vkformer/ops/elementwise.hpp"
#include "vkformer/ops/embed_position.hpp"
#include "vkformer/ops/encoder_attention.hpp"
#include "vkformer/ops/layer_norm.hpp"
#include "vkformer/ops/logits_edit.hpp"
#include "vkformer/ops/matmul.hpp"
#include "vkformer/ops/topk.hpp"

namespace vkformer::translate {

void Plan::finish() {
  command_buffers.clear();
  for (const auto& sequence : sequences) command_buffers.push_back(sequence->command_buffer());
}

std::map<std::string, uint64_t> Workspace::buffer_bytes(const ModelConfig& c, const Capacity& capacity) {
  const uint64_t d = c.d_model, enc_rows = uint64_t(capacity.sentences) * capacity.source, rows = capacity.rows;
  const auto floats = [](uint64_t count) { return std::max<uint64_t>(count, 1) * sizeof(float); };
  std::map<std::string, uint64_t> bytes{{"decoding state", state_words(capacity) * 4},
                                        {"encoder x", floats(enc_rows * d)},
                                        {"encoder qkv", floats(enc_rows * 3 * d)},
                                        {"encoder context", floats(enc_rows * d)},
                                        {"encoder projection", floats(enc_rows * d)},
                                        {"encoder ffn", floats(enc_rows * c.encoder_ffn)},
                                        {"decoder y", floats(rows * d)},
                                        {"decoder qkv", floats(rows * 3 * d)},
                                        {"decoder cross q", floats(rows * d)},
                                        {"decoder context", floats(rows * d)},
                                        {"decoder projection", floats(rows * d)},
                                        {"decoder ffn", floats(rows * c.decoder_ffn)},
                                        {"logits", floats(rows * c.vocab_size)},
                                        {"next ids", rows * 4},
                                        {"top ids", rows * capacity.top_k * 4},
                                        {"top values", rows * capacity.top_k * 4},
                                        {"attention scores", floats(rows * c.decoder_heads * capacity.source)},
                                        {"logit edits", logits_edit_words(capacity.rows, capacity.target) * 4},
                                        {"norm counters", std::max(enc_rows, rows) * 4}};
  for (uint32_t l = 0; l < c.decoder_layers; ++l) {
    bytes[fmt::format("decoder {} cross k/v", l)] = floats(enc_rows * 2 * d);
    bytes[fmt::format("decoder {} k/v cache", l)] = floats(rows * capacity.target * 2 * d);
  }
  return bytes;
}

Workspace::Workspace(Context& context, const Weights& weights, const Capacity& capacity, bool timestamps)
    : context_(context), weights_(weights), capacity_(capacity), shape_(capacity), timestamps_(timestamps) {
  const auto bytes = buffer_bytes(weights.config(), capacity);
  const auto make = [&](const std::string& name, bool host_visible = false) {
    return Buffer(context, bytes.at(name), name, host_visible);
  };
  state_ = make("decoding state");
  if (!state_.mapped()) state_host_ = Buffer(context, state_.bytes(), "decoding state (host)", true);
  state_.fill_zero();
  if (state_host_.mapped()) state_host_.fill_zero();
  enc_x_ = make("encoder x");
  enc_qkv_ = make("encoder qkv");
  enc_ctx_ = make("encoder context");
  enc_tmp_ = make("encoder projection");
  enc_ffn_ = make("encoder ffn");
  for (uint32_t l = 0; l < weights.config().decoder_layers; ++l) {
    cross_kv_.push_back(make(fmt::format("decoder {} cross k/v", l)));
    caches_.push_back(make(fmt::format("decoder {} k/v cache", l)));
  }
  norm_counters_ = make("norm counters");
  norm_counters_.fill_zero();  // the fused norms count on zeros and leave them so
  dec_y_ = make("decoder y");
  dec_qkv_ = make("decoder qkv");
  dec_q_ = make("decoder cross q");
  dec_ctx_ = make("decoder context");
  dec_tmp_ = make("decoder projection");
  dec_ffn_ = make("decoder ffn");
  logits_ = make("logits");
  next_ids_ = make("next ids", true);
  top_ids_ = make("top ids", true);
  top_values_ = make("top values", true);
  scores_ = make("attention scores", true);
  edits_ = make("logit edits", true);
}

void Workspace::set_shape(const Capacity& shape) {
  if (shape.source != shape_.source) {
    encoder_plans_.clear();
    decoder_plans_.clear();
  }
  shape_ = shape;
}

Sequence& Workspace::add_sequence(Plan& plan, const std::string& name) {
  plan.sequences.push_back(std::make_unique<Sequence>(context_, name, timestamps_));
  plan.sequences.back()->begin();
  return *plan.sequences.back();
}

Plan& Workspace::encoder(uint32_t sentences) {
  auto& plan = encoder_plans_[sentences];
  if (!plan) {
    plan = std::make_unique<Plan>();
    record_encoder(*plan, sentences);
  }
  return *plan;
}

Plan& Workspace::decoder(uint32_t rows, uint32_t top_k, bool ban_end, Edits edits, bool scores) {
  auto& plan = decoder_plans_[{rows, top_k, ban_end, edits, scores}];
  if (!plan) {
    plan = std::make_unique<Plan>();
    record_decoder(*plan, rows, top_k, ban_end, edits, scores);
  }
  return *plan;
}

void Workspace::set_step(uint32_t step, uint32_t rows) {
  uint32_t* s = state();
  s[0] = step;
  std::fill_n(s + decoder_position_offset(), rows, step);
}

View Workspace::norm_counters() {
  return context_.tuning().fuse_norm ? View{&norm_counters_, 0} : View{};
}

void Workspace::record_state_upload(Sequence& s) {
  if (state_host_.mapped()) s.copy(state_host_, state_, state_.bytes());
}

static void linear(Sequence& s, Context& context, View x, const Linear& w, View y, uint32_t rows,
                   std::string_view label, Activation activation = Activation::none) {
  record_matmul(s, context, x, w.weight, w.bias, y,
                {.M = rows, .N = w.out, .K = w.in, .b_scale = w.scale, .activation = activation}, label);
}

// One matmul per row block of the output matrix, each writing its columns of the logits.
static void output_projection(Sequence& s, Context& context, View x, const Output& w, View logits, uint32_t rows) {
  const RowBlocks& blocks = w.weight;
  for (size_t b = 0; b < blocks.blocks.size(); ++b) {
    const uint32_t first = blocks.first_row(b);
    record_matmul(s, context, x, blocks.blocks[b], {w.bias.buffer, w.bias.offset + first},
                  {logits.buffer, logits.offset + first},
                  {.M = rows, .N = blocks.rows_in(b), .K = w.in, .ldc = blocks.rows,
                   .b_scale = blocks.scales.empty() ? View{} : blocks.scales[b]},
                  "logits");
  }
}

static float embedding_scale(const ModelConfig& c, const std::optional<float>& scale) {
  if (scale) return *scale;
  return c.scale_embedding ? std::sqrt(float(c.d_model)) : 1.0f;
}

// A sublayer's output projection `w` of `in` and its residual connection; returns whether it also left the
// next sublayer's normalized input (`next`'s LayerNorm of x) where that sublayer reads it. With `counters`
// (the tuning fuses norms) the norm is the matmul's epilogue, else a layer_norm dispatch.
// Post-norm (Marian): x = LayerNorm(x + f) with the sublayer's own `norm` (unfused, f goes through `tmp`:
// "SUBLAYER norm"). Pre-norm: x = x + f in the matmul; fused, its epilogue also writes LayerNorm(x) with
// `next` into `tmp`, or into x itself when `next` is the stack's final norm (`next_in_place`).
static bool project_residual(Sequence& s, Context& context, const ModelConfig& c, View in, const Linear& w, View tmp,
                             View x, const Norm& norm, const Norm* next, bool next_in_place, View counters,
                             uint32_t rows, std::string_view label, std::string_view sublayer) {
  MatmulShape shape{.M = rows, .N = w.out, .K = w.in, .b_scale = w.scale, .accumulate = true};
  if (!c.pre_norm) {
    if (counters.buffer) {
      shape.norm = {.gamma = norm.gamma, .beta = norm.beta, .out = x, .counters = counters, .eps = c.layer_norm_eps};
      record_matmul(s, context, in, w.weight, w.bias, x, shape, label);
    } else {
      linear(s, context, in, w, tmp, rows, label);
      record_layer_norm(s, context, tmp, x, norm.gamma, norm.beta, x, rows, c.d_model, c.layer_norm_eps,
                        std::string(sublayer) + " norm");
    }
    return false;
  }
  const bool fuse = counters.buffer && next && next->gamma.buffer;
  if (fuse) {
    shape.norm = {.gamma = next->gamma, .beta = next->beta, .out = next_in_place ? x : tmp, .counters = counters,
                  .eps = c.layer_norm_eps};
  }
  record_matmul(s, context, in, w.weight, w.bias, x, shape, label);
  return fuse;
}

// A sublayer's input: LayerNorm(x) into `normed` for pre-norm models (unless the previous sublayer's
// output projection has written it there: `ready`), x itself for post-norm ones.
static View pre_norm(Sequence& s, Context& context, const ModelConfig& c, View x, View normed, const Norm& norm,
                     uint32_t rows, std::string_view label, bool ready) {
  if (!c.pre_norm) return x;
  if (!ready) {
    record_layer_norm(s, context, x, {}, norm.gamma, norm.beta, normed, rows, c.d_model, c.layer_norm_eps, label);
  }
  return normed;
}

// The token embeddings of `rows` rows into `out`, plus the positions: computed by the embedding kernel
// (Marian), or gathered from the model's table through the position ids in the state into `tmp` and added.
void Workspace::record_embedding(Sequence& s, const RowBlocks& table, const RowBlocks& positions, uint32_t ids_offset,
                                 uint32_t position_offset, float scale, const PositionEncoding& encoding, View out,
                                 View tmp, uint32_t rows) {
  const auto& c = weights_.config();
  PositionEncoding tokens_only = encoding;
  tokens_only.enabled = !c.position_table;
  record_embed_position(s, context_, &state_, ids_offset, table, c.d_model, out, rows, scale, tokens_only, "embed");
  if (!c.position_table) return;
  record_embed_position(s, context_, &state_, position_offset, positions, c.d_model, tmp, rows, 1.0f,
                        {.enabled = false}, "positions");
  record_elementwise(s, context_, out, tmp, out, rows * c.d_model, Activation::none, "add positions");
}

void Workspace::record_encoder(Plan& plan, uint32_t sentences) {
  const auto& c = weights_.config();
  const uint32_t d = c.d_model, S = shape_.source, rows = sentences * S, heads = c.encoder_heads, hd = d / heads;
  const View x{&enc_x_, 0}, ctx{&enc_ctx_, 0}, tmp{&enc_tmp_, 0};
  const View counters = norm_counters();
  const bool fused = counters.buffer;
  const bool query_blocks = context_.tuning().encoder_queries && encoder_attention_keys(context_, hd);
  {
    Sequence& s = add_sequence(plan, "encoder embed");
    record_state_upload(s);
    record_embedding(s, weights_.encoder_embedding, weights_.encoder_positions, source_ids_offset(),
                     source_position_offset(), embedding_scale(c, c.encoder_embedding_scale), {.seq_len = S}, x, tmp,
                     rows);
    // Where the layers' output projections normalize the next layer's input, the first layer's comes with
    // the embedding, so that every layer runs the same dispatches.
    if (fused && c.encoder_layers) {
      pre_norm(s, context_, c, x, tmp, weights_.encoder[0].attention_norm, rows, "self pre-norm", false);
    }
    s.end();
  }
  // x's normalized copy for the next pre-norm sublayer is in tmp (or the final norm done).
  bool ready = fused && c.pre_norm;
  for (uint32_t l = 0; l < c.encoder_layers; ++l) {
    const auto& w = weights_.encoder[l];
    const bool last = l + 1 == c.encoder_layers;
    const Norm* next = last ? (c.encoder_final_norm ? &weights_.encoder_norm : nullptr) : &weights_.encoder[l + 1].attention_norm;
    Sequence& s = add_sequence(plan, fmt::format("encoder L{}", l));
    linear(s, context_, pre_norm(s, context_, c, x, tmp, w.attention_norm, rows, "self pre-norm", ready), w.qkv,
           {&enc_qkv_, 0}, rows, "qkv");
    // Self attention over the sentence's positions up to its length, one dispatch: on GPUs in query blocks
    // sharing the keys, else the decoder's cross-attention kernel with the sentence taken from the row.
    const float scale = 1.0f / std::sqrt(float(hd));
    if (query_blocks) {
      record_encoder_attention(s, context_,
                               {.sentences = sentences, .positions = S, .heads = heads, .head_dim = hd, .d_model = d,
                                .qkv = {&enc_qkv_, 0}, .qkv_stride = 3 * d, .state = &state_,
                                .length_offset = length_offset(), .out = ctx, .out_stride = d, .scale = scale},
                               "self attention");
    } else {
      record_attention(s, context_,
                       {.cross = true, .rows = rows, .heads = heads, .head_dim = hd, .d_model = d,
                        .q = {&enc_qkv_, 0}, .q_stride = 3 * d, .kv = {&enc_qkv_, d}, .kv_stride = 3 * d,
                        .state = &state_, .length_offset = length_offset(), .source_capacity = S,
                        .rows_per_sentence = S, .out = ctx, .out_stride = d, .scale = scale},
                       "self attention");
    }
    ready = project_residual(s, context_, c, ctx, w.out, tmp, x, w.attention_norm, &w.ffn_norm, false, counters, rows,
                             "self out proj", "self");
    linear(s, context_, pre_norm(s, context_, c, x, tmp, w.ffn_norm, rows, "ffn pre-norm", ready), w.fc1,
           {&enc_ffn_, 0}, rows, "ffn1", c.activation);
    ready = project_residual(s, context_, c, {&enc_ffn_, 0}, w.fc2, tmp, x, w.ffn_norm, next, last, counters, rows,
                             "ffn2", "ffn");
    s.end();
  }
  // Cross-attention keys and values depend only on the encoder output: once per batch, not per step.
  Sequence& s = add_sequence(plan, "encoder cross k/v");
  if (c.encoder_final_norm && !ready) {
    const auto& n = weights_.encoder_norm;
    record_layer_norm(s, context_, x, {}, n.gamma, n.beta, x, rows, d, c.layer_norm_eps, "final norm");
  }
  for (uint32_t l = 0; l < c.decoder_layers; ++l) {
    linear(s, context_, x, weights_.decoder[l].cross_kv, {&cross_kv_[l], 0}, rows, "cross k/v");
  }
  s.end();
  plan.finish();
}

uint32_t Workspace::alignment_layer() const {
  const auto& c = weights_.config();
  const int32_t layer = c.alignment_layer < 0 ? int32_t(c.decoder_layers) + c.alignment_layer : c.alignment_layer;
  if (layer < 0 || layer >= int32_t(c.decoder_layers)) {
    throw Error(fmt::format("the model's alignment layer {} is not one of its {} decoder layers", c.alignment_layer,
                            c.decoder_layers));
  }
  return uint32_t(layer);
}

void Workspace::record_decoder(Plan& plan, uint32_t rows, uint32_t top_k, bool ban_end, Edits edits, bool scores) {
  const auto& c = weights_.config();
  const uint32_t d = c.d_model, heads = c.decoder_heads, hd = d / heads;
  const float scale = 1.0f / std::sqrt(float(hd));
  const View y{&dec_y_, 0}, ctx{&dec_ctx_, 0}, tmp{&dec_tmp_, 0};
  const View counters = norm_counters();
  const bool fused = counters.buffer;
  // Whether the attention computes its query (and key, value) with `w` itself: as the tuning says, where
  // it can read the weights.
  const auto fuses = [&](const Linear& w) {
    return rows <= context_.tuning().attention_projection_rows && attention_projects(w.weight, w.bias);
  };
  {
    Sequence& s = add_sequence(plan, "decoder embed");
    record_state_upload(s);
    record_embedding(s, weights_.decoder_embedding, weights_.decoder_positions, ids_offset(), decoder_position_offset(),
                     embedding_scale(c, c.decoder_embedding_scale),
                     {.seq_len = 1, .offset_buffer = &state_, .offset_index = 0}, y, tmp, rows);
    if (fused && c.decoder_layers) {  // as in record_encoder
      pre_norm(s, context_, c, y, tmp, weights_.decoder[0].self_norm, rows, "self pre-norm", false);
    }
    s.end();
  }
  bool ready = fused && c.pre_norm;  // as in record_encoder
  for (uint32_t l = 0; l < c.decoder_layers; ++l) {
    const auto& w = weights_.decoder[l];
    const bool last = l + 1 == c.decoder_layers;
    const Norm* next = last ? (c.decoder_final_norm ? &weights_.decoder_norm : nullptr) : &weights_.decoder[l + 1].self_norm;
    Sequence& s = add_sequence(plan, fmt::format("decoder L{}", l));
    AttentionArgs self{.cross = false, .rows = rows, .heads = heads, .head_dim = hd, .d_model = d,
                       .cache = &caches_[l], .capacity = capacity_.target, .state = &state_, .step_index = 0,
                       .trace_offset = trace_offset(), .out = ctx, .out_stride = d, .scale = scale};
    const View self_input = pre_norm(s, context_, c, y, tmp, w.self_norm, rows, "self pre-norm", ready);
    if (fuses(w.qkv)) {
      self.q = self_input;  // y or its normed copy in tmp: read while the attention writes ctx
      self.q_stride = d;
      self.weight = w.qkv.weight;
      self.bias = w.qkv.bias;
      record_attention(s, context_, self, "qkv + cached self attention");
    } else {
      linear(s, context_, self_input, w.qkv, {&dec_qkv_, 0}, rows, "qkv");
      self.q = {&dec_qkv_, 0};
      self.q_stride = 3 * d;
      self.kv = {&dec_qkv_, d};
      self.kv_stride = 3 * d;
      record_attention(s, context_, self, "cached self attention");
    }
    ready = project_residual(s, context_, c, ctx, w.self_out, tmp, y, w.self_norm, &w.cross_norm, false, counters,
                             rows, "self out proj", "self");
    AttentionArgs cross{.cross = true, .rows = rows, .heads = heads, .head_dim = hd, .d_model = d,
                        .q_stride = d, .kv = {&cross_kv_[l], 0}, .kv_stride = 2 * d, .state = &state_,
                        .sentence_offset = sentence_offset(), .length_offset = length_offset(),
                        .source_capacity = shape_.source, .out = ctx, .out_stride = d, .scale = scale,
                        .scores = scores && l == alignment_layer() ? View{&scores_, 0} : View{}};
    const View cross_input = pre_norm(s, context_, c, y, tmp, w.cross_norm, rows, "cross pre-norm", ready);
    if (fuses(w.cross_q)) {
      cross.q = cross_input;
      cross.weight = w.cross_q.weight;
      cross.bias = w.cross_q.bias;
      record_attention(s, context_, cross, "cross q + cross attention");
    } else {
      linear(s, context_, cross_input, w.cross_q, {&dec_q_, 0}, rows, "cross q");
      cross.q = {&dec_q_, 0};
      record_attention(s, context_, cross, "cross attention");
    }
    ready = project_residual(s, context_, c, ctx, w.cross_out, tmp, y, w.cross_norm, &w.ffn_norm, false, counters,
                             rows, "cross out proj", "cross");
    linear(s, context_, pre_norm(s, context_, c, y, tmp, w.ffn_norm, rows, "ffn pre-norm", ready), w.fc1,
           {&dec_ffn_, 0}, rows, "ffn1", c.activation);
    ready = project_residual(s, context_, c, {&dec_ffn_, 0}, w.fc2, tmp, y, w.ffn_norm, next, last, counters, rows,
                             "ffn2", "ffn");
    s.end();
  }
  Sequence& s = add_sequence(plan, "decoder output");
  if (c.decoder_final_norm && !ready) {
    const auto& n = weights_.decoder_norm;
    record_layer_norm(s, context_, y, {}, n.gamma, n.beta, y, rows, d, c.layer_norm_eps, "final norm");
  }
  output_projection(s, context_, y, weights_.output, {&logits_, 0}, rows);
  // The kernels ban one token: the end token below a minimum length (CTranslate2 models, which ban
  // nothing else), else the model's own banned token (Marian: pad).
  if (ban_end && !c.banned_ids.empty()) throw Error("a minimum decoding length needs a model without banned tokens");
  const uint32_t banned = ban_end ? c.eos_id : c.banned_ids.empty() ? kNoBannedToken : c.banned_ids.front();
  if (edits != Edits::none) {
    record_logits_edit(s, context_, {&logits_, 0}, {&logits_, 0}, rows, c.vocab_size, &edits_, 0, edits_stride(),
                       edits == Edits::log_probs, "logits edit");
  }
  if (top_k == 0) {
    record_argmax(s, context_, {&logits_, 0}, rows, c.vocab_size, &next_ids_, 0, banned, "argmax");
  } else {
    // CTranslate2 bans the end token by its logit (-inf), so it is out of the log-softmax; transformers'
    // processors (Marian's pad) act after it in beam search.
    record_topk(s, context_, {&logits_, 0}, rows, c.vocab_size, top_k, &top_ids_, 0, {&top_values_, 0},
                edits != Edits::log_probs, banned, "top-k", !ban_end);
  }
  s.end();
  plan.finish();
}

std::vector<float> Workspace::logits(uint32_t rows) const {
  return logits_.download<float>(size_t(rows) * weights_.config().vocab_size);
}

std::vector<std::vector<float>> Workspace::attention(uint32_t rows) const {
  const auto& c = weights_.config();
  const uint32_t heads = c.decoder_heads, S = shape_.source;
  const uint32_t averaged = c.alignment_heads == 0 ? heads : std::min(c.alignment_heads, heads);
  const auto scores = scores_.download<float>(size_t(rows) * heads * S);
  const uint32_t* s = state();
  std::vector<std::vector<float>> out(rows);
  for (uint32_t r = 0; r < rows; ++r) {
    const uint32_t length = std::min(s[length_offset() + s[sentence_offset() + r]], S);
    std::vector<double> mean(length, 0.0);
    for (uint32_t h = 0; h < averaged; ++h) {
      const float* x = &scores[(size_t(r) * heads + h) * S];
      const double top = length ? double(*std::max_element(x, x + length)) : 0.0;
      std::vector<double> weights(length);
      double total = 0.0;
      for (uint32_t t = 0; t < length; ++t) total += weights[t] = std::exp(double(x[t]) - top);
      for (uint32_t t = 0; t < length; ++t) mean[t] += weights[t] / total / averaged;
    }
    out[r].assign(mean.begin(), mean.end());
  }
  return out;
}

std::vector<float> Workspace::encoder_output(uint32_t sentences) const {
  return enc_x_.download<float>(size_t(sentences) * shape_.source * weights_.config().d_model);
}

}  // namespace vkformer::translate
