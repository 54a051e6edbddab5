#include "serve_batcher.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "io.hpp"
#include "vkformer/error.hpp"

namespace vkformer::cli {

Batcher::Batcher(std::vector<Engine*> models, std::vector<DecodeOptions> decode, BatchLimits limits)
    : models_(std::move(models)), decode_(std::move(decode)), limits_(limits), thread_([this] { run(); }) {}

Batcher::~Batcher() { stop(); }

std::optional<std::future<std::vector<SentenceResult>>> Batcher::submit(size_t model,
                                                                        std::vector<std::string> sentences,
                                                                        uint32_t n_best) {
  auto request = std::make_shared<Request>();
  request->model = model;
  request->n_best = n_best;
  request->results.resize(sentences.size());
  request->remaining = sentences.size();
  request->sentences = std::move(sentences);
  auto future = request->done.get_future();
  if (request->sentences.empty()) {
    request->done.set_value({});
    return future;
  }
  std::lock_guard lock(mutex_);
  // A request larger than the whole queue still runs when nothing else waits.
  if (stopping_ || (!queue_.empty() && queue_.size() + request->sentences.size() > limits_.max_waiting)) {
    return std::nullopt;
  }
  const auto now = Clock::now();
  for (size_t i = 0; i < request->sentences.size(); ++i) queue_.push_back({request, i, now});
  arrived_.notify_one();
  return future;
}

void Batcher::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  arrived_.notify_one();
  if (thread_.joinable()) thread_.join();
}

size_t Batcher::waiting() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

void Batcher::run() {
  for (;;) {
    auto batch = next_batch();
    if (batch.empty()) return;
    try {
      translate(batch);
    } catch (const std::exception& e) {
      // Out of memory, a lost device: the batch's requests fail, the server goes on.
      for (auto& item : batch) {
        if (item.request) deliver(item, {.error = e.what()});
      }
    }
  }
}

std::vector<Batcher::Item> Batcher::next_batch() {
  std::unique_lock lock(mutex_);
  arrived_.wait(lock, [&] { return !queue_.empty() || stopping_; });
  if (queue_.empty()) return {};
  const size_t model = queue_.front().request->model;
  const uint32_t n_best = queue_.front().request->n_best;
  const auto same = [&](const Item& item) { return item.request->model == model && item.request->n_best == n_best; };
  const auto deadline = queue_.front().queued + limits_.wait;
  while (!stopping_ && size_t(std::count_if(queue_.begin(), queue_.end(), same)) < limits_.batch_sentences) {
    if (arrived_.wait_until(lock, deadline) == std::cv_status::timeout) break;
  }
  std::vector<Item> batch;
  for (auto it = queue_.begin(); it != queue_.end() && batch.size() < limits_.batch_sentences;) {
    if (same(*it)) {
      batch.push_back(std::move(*it));
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  return batch;
}

void Batcher::translate(std::vector<Item>& batch) {
  const size_t model = batch.front().request->model;
  Engine& translator = *models_[model];
  DecodeOptions options = decode_[model];
  options.n_best = batch.front().request->n_best;
  options.batch_sentences = limits_.batch_sentences;
  options.batch_tokens = limits_.batch_tokens;
  const uint32_t limit = limits_.max_input_tokens
                             ? std::min(limits_.max_input_tokens, translator.config().max_positions)
                             : translator.config().max_positions;
  std::vector<std::vector<uint32_t>> sources;
  std::vector<std::vector<std::string>> pieces;  // replace_unknowns (an Argos package's default)
  std::vector<Item*> encoded;
  for (auto& item : batch) {
    try {
      const auto& sentence = item.request->sentences[item.index];
      std::vector<std::string> sentence_pieces;
      auto ids = translator.encode(sentence, options.replace_unknowns ? &sentence_pieces : nullptr);
      if (ids.size() > limit) {
        throw Error(fmt::format("a sentence of {} tokens is longer than the limit of {}", ids.size(), limit));
      }
      sources.push_back(std::move(ids));
      pieces.push_back(std::move(sentence_pieces));
      encoded.push_back(&item);
    } catch (const std::exception& e) {
      deliver(item, {.error = e.what(), .bad_input = true});
    }
  }
  auto outcomes = translate_isolated(translator, sources, options, false, pieces);
  for (size_t i = 0; i < encoded.size(); ++i) {
    SentenceResult result;
    if (auto* translation = std::get_if<Translation>(&outcomes[i])) {
      for (auto& h : translation->hypotheses) result.texts.push_back(std::move(h.text));
    } else {
      result.error = std::get<std::string>(outcomes[i]);
    }
    deliver(*encoded[i], std::move(result));
  }
}

// Each item is delivered once: its request pointer is dropped after.
void Batcher::deliver(Item& item, SentenceResult result) {
  auto request = std::move(item.request);
  request->results[item.index] = std::move(result);
  if (--request->remaining == 0) request->done.set_value(std::move(request->results));
}

}  // namespace vkformer::cli
