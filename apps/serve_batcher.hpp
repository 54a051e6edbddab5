#pragma once
// Dynamic batching for `vkformer serve`: the sentences of concurrent requests wait in one queue, and one
// thread translates them in device batches. A batch is the oldest waiting sentence and every other waiting
// sentence for the same model and n-best, up to `batch_sentences`; it starts when full or when its oldest
// sentence has waited `wait`. That thread runs every model: an Engine is not thread-safe, and each
// submit to the device's queue must come from one thread at a time.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "vkformer/engine.hpp"

namespace vkformer::cli {

struct SentenceResult {
  std::vector<std::string> texts;  // hypotheses, best first; empty when it failed
  std::string error;
  bool bad_input = false;  // the sentence itself is wrong (invalid UTF-8, too long): 400, not 500
};

struct BatchLimits {
  uint32_t batch_sentences = 32;
  uint32_t batch_tokens = 0;  // DecodeOptions::batch_tokens
  std::chrono::microseconds wait{5000};
  size_t max_waiting = 2048;      // sentences queued at most: more is "too many requests"
  uint32_t max_input_tokens = 0;  // per sentence; 0: the model's positions
};

class Batcher {
 public:
  // `decode` per model (beam, length penalty, max length); n_best comes with each request.
  Batcher(std::vector<Engine*> models, std::vector<DecodeOptions> decode, BatchLimits limits);
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // The results arrive in the order of `sentences`. nullopt: the queue is full.
  std::optional<std::future<std::vector<SentenceResult>>> submit(size_t model, std::vector<std::string> sentences,
                                                                 uint32_t n_best);
  // Translates what is queued, then ends the thread.
  void stop();
  size_t waiting() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Request {
    size_t model = 0;
    uint32_t n_best = 1;
    std::vector<std::string> sentences;
    std::vector<SentenceResult> results;
    size_t remaining = 0;
    std::promise<std::vector<SentenceResult>> done;
  };
  struct Item {
    std::shared_ptr<Request> request;
    size_t index = 0;
    Clock::time_point queued;
  };

  void run();
  std::vector<Item> next_batch();
  void translate(std::vector<Item>& batch);
  void deliver(Item& item, SentenceResult result);

  std::vector<Engine*> models_;
  std::vector<DecodeOptions> decode_;
  BatchLimits limits_;
  mutable std::mutex mutex_;
  std::condition_variable arrived_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace vkformer::cli
