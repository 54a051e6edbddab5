// `vkformer serve`: LibreTranslate's HTTP API (POST /translate, /detect, GET /languages, /frontend/settings)
// over the models given, with dynamic batching (serve_batcher.hpp) and text segmentation (serve_text.hpp).
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "io.hpp"
#include "model_path.hpp"
#include "serve_batcher.hpp"
#include "serve_text.hpp"
#include "vkformer/error.hpp"
#include "vkformer/model/tokenizer.hpp"
#include "vkformer/model/package.hpp"
#include "vkformer/engine.hpp"

namespace vkformer::cli {

namespace {

using nlohmann::json;

struct ServeArgs {
  ContextOptions context;
  std::vector<std::string> models;
  std::vector<std::string> languages;
  std::optional<Element> precision;  // unset: as the model stores them
  std::string host = "127.0.0.1";
  int port = 5000;
  std::string api_keys;
  size_t char_limit = 5000;
  size_t batch_limit = 64;
  uint32_t req_limit = 0;
  size_t max_body = 1 << 20;
  size_t threads = 64;
  std::optional<uint32_t> beam;
  std::optional<float> length_penalty;
  uint32_t max_length = 0;
  BatchLimits batching{.max_input_tokens = 1024};
  uint32_t wait_ms = 5;
};

// An HTTP error answered as LibreTranslate does: {"error": "..."} with the status.
class HttpError : public std::runtime_error {
 public:
  HttpError(int code, const std::string& message) : std::runtime_error(message), status(code) {}
  int status;
};

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

std::string language_name(const std::string& code) {
  static const std::map<std::string, std::string> kNames{
      {"ar", "Arabic"},    {"cs", "Czech"},      {"da", "Danish"},   {"de", "German"},  {"el", "Greek"},
      {"en", "English"},   {"es", "Spanish"},    {"fi", "Finnish"},  {"fr", "French"},  {"hi", "Hindi"},
      {"hu", "Hungarian"}, {"it", "Italian"},    {"ja", "Japanese"}, {"ko", "Korean"},  {"nl", "Dutch"},
      {"pl", "Polish"},    {"pt", "Portuguese"}, {"ro", "Romanian"}, {"ru", "Russian"}, {"sv", "Swedish"},
      {"tr", "Turkish"},   {"uk", "Ukrainian"},  {"zh", "Chinese"}};
  const auto it = kNames.find(code);
  return it == kNames.end() ? code : it->second;
}

struct Model {
  std::string directory, source, target;
  std::unique_ptr<Engine> translator;
  DecodeOptions decode;
};

// "en:de", an Argos package's metadata.json, or a directory named like "en-de" or "opus-mt-en-de".
std::pair<std::string, std::string> model_languages(const std::string& directory, const std::string& option) {
  static const std::regex kPair("([a-z]{2,3}):([a-z]{2,3})"), kName(".*?(?:^|[-_])([a-z]{2,3})-([a-z]{2,3})");
  std::smatch match;
  if (!option.empty()) {
    if (!std::regex_match(option, match, kPair)) {
      throw UsageError(fmt::format("--languages {}: give SOURCE:TARGET language codes, e.g. en:de", option));
    }
    return {match[1], match[2]};
  }
  std::error_code error;
  const std::filesystem::path path(directory);
  const auto root = std::filesystem::is_regular_file(path, error) && path.extension() == ".argosmodel"
                        ? unpacked_package(path)
                        : path;
  if (std::filesystem::exists(root / "metadata.json", error)) {
    const auto metadata = root / "metadata.json";
    const auto package = parse_argos_metadata({metadata, read_model_file(metadata)});
    return {package.from_code, package.to_code};
  }
  const std::string name = std::filesystem::path(directory).lexically_normal().filename().string().empty()
                               ? std::filesystem::path(directory).lexically_normal().parent_path().filename().string()
                               : std::filesystem::path(directory).lexically_normal().filename().string();
  if (!std::regex_match(name, match, kName)) {
    throw UsageError(
        fmt::format("model '{}': its languages are not in its name (like en-de); give --languages SRC:TGT", directory));
  }
  return {match[1], match[2]};
}

std::unordered_set<std::string> read_api_keys(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw Error(fmt::format("cannot read --api-keys '{}'", path));
  std::unordered_set<std::string> keys;
  for (std::string line; std::getline(file, line);) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    const size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    keys.insert(line.substr(start));
  }
  if (keys.empty()) throw Error(fmt::format("--api-keys '{}' holds no key (one per line; # starts a comment)", path));
  return keys;
}

// LibreTranslate's --req-limit: requests per minute from one client address, over the last 60 seconds.
class RateLimit {
 public:
  explicit RateLimit(uint32_t per_minute) : per_minute_(per_minute) {}
  bool allow(const std::string& address) {
    if (per_minute_ == 0) return true;
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex_);
    // Addresses whose last request is a minute old are forgotten, so the table holds only recent clients.
    if (now - pruned_ > std::chrono::minutes(1)) {
      std::erase_if(times_, [&](const auto& entry) { return now - entry.second.back() > std::chrono::minutes(1); });
      pruned_ = now;
    }
    auto& times = times_[address];
    while (!times.empty() && now - times.front() > std::chrono::minutes(1)) times.pop_front();
    if (times.size() >= per_minute_) return false;
    times.push_back(now);
    return true;
  }

 private:
  const uint32_t per_minute_;
  std::mutex mutex_;
  std::chrono::steady_clock::time_point pruned_;
  std::unordered_map<std::string, std::deque<std::chrono::steady_clock::time_point>> times_;
};

// A request's fields, from a JSON object or a form (urlencoded, multipart or the query string).
class Fields {
 public:
  explicit Fields(const httplib::Request& req) : req_(req) {
    if (req.get_header_value("Content-Type").starts_with("application/json")) {
      try {
        json_ = json::parse(req.body);
      } catch (const json::exception&) {
        throw HttpError(400, "Invalid JSON format");
      }
      if (!json_.is_object()) throw HttpError(400, "Invalid JSON format");
      is_json_ = true;
    }
  }

  std::optional<std::string> text(const std::string& name) const {
    if (is_json_) {
      if (!json_.contains(name) || json_[name].is_null()) return std::nullopt;
      if (json_[name].is_number_integer()) return std::to_string(json_[name].get<int64_t>());
      if (!json_[name].is_string()) throw HttpError(400, fmt::format("Invalid request: {} must be a string", name));
      return json_[name].get<std::string>();
    }
    if (req_.has_param(name.c_str())) return req_.get_param_value(name.c_str());
    if (req_.has_file(name.c_str())) return req_.get_file_value(name.c_str()).content;
    return std::nullopt;
  }

  // q: one text or, in JSON, a list of them. Empty: missing.
  std::vector<std::string> texts(bool& is_list) const {
    is_list = false;
    if (is_json_ && json_.contains("q") && json_["q"].is_array()) {
      is_list = true;
      std::vector<std::string> texts;
      for (const auto& item : json_["q"]) {
        if (!item.is_string()) throw HttpError(400, "Invalid request: q must be a string or a list of strings");
        texts.push_back(item.get<std::string>());
      }
      if (texts.empty()) throw HttpError(400, "Invalid request: missing q parameter");
      return texts;
    }
    if (is_json_ && json_.contains("q") && !json_["q"].is_string() && !json_["q"].is_null()) {
      throw HttpError(400, "Invalid request: q must be a string or a list of strings");
    }
    auto q = text("q");
    if (!q || q->empty()) throw HttpError(400, "Invalid request: missing q parameter");
    if (!is_json_) {  // form line ends normalized to "\n", as LibreTranslate does
      std::string normalized;
      for (size_t i = 0; i < q->size(); ++i) {
        if ((*q)[i] == '\r' && i + 1 < q->size() && (*q)[i + 1] == '\n') continue;
        normalized += (*q)[i];
      }
      q = std::move(normalized);
    }
    return {*q};
  }

 private:
  const httplib::Request& req_;
  json json_;
  bool is_json_ = false;
};

class Service {
 public:
  Service(ServeArgs& args, std::vector<Model>& models, Batcher& batcher, std::unordered_set<std::string> keys)
      : args_(args), models_(models), batcher_(batcher), keys_(std::move(keys)), rate_(args.req_limit) {}

  void routes(httplib::Server& server) {
    server.Post("/translate", guarded([this](const auto& req, auto& res) { translate(req, res); }));
    server.Post("/detect", guarded([this](const auto& req, auto& res) { detect(req, res); }));
    server.Get("/languages", guarded([this](const auto&, auto& res) { languages(res); }));
    server.Get("/frontend/settings", guarded([this](const auto&, auto& res) { settings(res); }));
  }

 private:
  template <typename F>
  httplib::Server::Handler guarded(F handle) {
    return [handle](const httplib::Request& req, httplib::Response& res) {
      try {
        handle(req, res);
      } catch (const HttpError& e) {
        reply(res, e.status, {{"error", e.what()}});
      } catch (const std::exception& e) {
        reply(res, 500, {{"error", fmt::format("Cannot translate text: {}", e.what())}});
      }
    };
  }

  // API key (403) and request rate (429), as LibreTranslate checks them for /translate and /detect.
  void admit(const httplib::Request& req, const Fields& fields) {
    if (!keys_.empty()) {
      const auto key = fields.text("api_key");
      if (!key || !keys_.contains(*key)) throw HttpError(403, "Invalid API key");
    }
    if (!rate_.allow(req.remote_addr)) {
      throw HttpError(429, fmt::format("Slowdown: {} per 1 minute", args_.req_limit));
    }
  }

  const Model* pick(const std::string& source, const std::string& target) const {
    const auto has = [&](auto member, const std::string& code) {
      return std::any_of(models_.begin(), models_.end(), [&](const Model& m) { return m.*member == code; });
    };
    if (source != "auto" && !has(&Model::source, source))
      throw HttpError(400, fmt::format("{} is not supported", source));
    if (!has(&Model::target, target)) throw HttpError(400, fmt::format("{} is not supported", target));
    for (const auto& model : models_) {
      if ((source == "auto" || model.source == source) && model.target == target) return &model;
    }
    throw HttpError(400, fmt::format("{} ({}) is not available as a target language from {} ({})",
                                     language_name(target), target, language_name(source), source));
  }

  void translate(const httplib::Request& req, httplib::Response& res) {
    const Fields fields(req);
    admit(req, fields);
    bool is_list = false;
    const auto texts = fields.texts(is_list);
    const auto source = fields.text("source"), target = fields.text("target");
    if (!source || source->empty()) throw HttpError(400, "Invalid request: missing source parameter");
    if (!target || target->empty()) throw HttpError(400, "Invalid request: missing target parameter");
    const std::string format = fields.text("format").value_or("text");
    if (format != "text" && format != "html") throw HttpError(400, fmt::format("{} format is not supported", format));
    int64_t alternatives = 0;
    if (const auto value = fields.text("alternatives"); value && !value->empty()) {
      const auto [end, error] = std::from_chars(value->data(), value->data() + value->size(), alternatives);
      if (error != std::errc() || end != value->data() + value->size()) {
        throw HttpError(400, "Invalid request: alternatives parameter is not a number");
      }
      alternatives = std::clamp<int64_t>(alternatives, 0, kMaxBeam);  // more than the beam gives cannot be had
    }
    if (is_list && texts.size() > args_.batch_limit) {
      throw HttpError(
          400, fmt::format("Invalid request: request ({}) exceeds text limit ({})", texts.size(), args_.batch_limit));
    }
    for (const auto& text : texts) {
      if (!valid_utf8(text)) throw HttpError(400, "Invalid request: q is not valid UTF-8");
      const size_t chars = size_t(std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xc0) != 0x80; }));
      if (chars > args_.char_limit) {
        throw HttpError(400,
                        fmt::format("Invalid request: request ({}) exceeds text limit ({})", chars, args_.char_limit));
      }
    }
    const Model& model = *pick(*source, *target);
    const size_t model_index = size_t(&model - models_.data());
    // Alternatives are the beam's other hypotheses; HTML gets none (as LibreTranslate).
    const uint32_t n_best = format == "html" ? 1 : uint32_t(std::min<int64_t>(alternatives + 1, model.decode.beam));

    std::vector<Segmented> segmented(texts.size());
    std::vector<std::string> sentences;
    for (size_t i = 0; i < texts.size(); ++i) {
      format == "html" ? segmented[i].add_html(texts[i]) : segmented[i].add_text(texts[i]);
      sentences.insert(sentences.end(), segmented[i].sentences().begin(), segmented[i].sentences().end());
    }
    auto future = batcher_.submit(model_index, std::move(sentences), n_best);
    if (!future) {
      throw HttpError(
          429, fmt::format("Slowdown: {} sentences are waiting to be translated; try again later", batcher_.waiting()));
    }
    const auto results = future->get();

    json translated = json::array(), all_alternatives = json::array();
    size_t at = 0;
    for (size_t i = 0; i < texts.size(); ++i) {
      const size_t count = segmented[i].sentences().size();
      std::vector<std::vector<std::string>> hypotheses(n_best);  // [rank][sentence]
      for (size_t s = at; s < at + count; ++s) {
        const auto& result = results[s];
        if (result.texts.empty()) {
          const auto where = is_list ? fmt::format("q[{}]: ", i) : "";
          if (result.bad_input) throw HttpError(400, fmt::format("Invalid request: {}{}", where, result.error));
          throw HttpError(500, fmt::format("Cannot translate text: {}{}", where, result.error));
        }
        for (uint32_t k = 0; k < n_best; ++k)
          hypotheses[k].push_back(result.texts[std::min<size_t>(k, result.texts.size() - 1)]);
      }
      at += count;
      const std::string best = segmented[i].assemble(hypotheses[0]);
      json others = json::array();
      for (uint32_t k = 1; k < n_best; ++k) {
        const std::string other = segmented[i].assemble(hypotheses[k]);
        if (other != best && std::find(others.begin(), others.end(), other) == others.end()) others.push_back(other);
      }
      translated.push_back(best);
      all_alternatives.push_back(others);
    }
    json body{{"translatedText", is_list ? translated : translated[0]}};
    if (alternatives > 0) body["alternatives"] = is_list ? all_alternatives : all_alternatives[0];
    if (*source == "auto") {
      // Not detected: the source language of the model that translates into the target.
      const json detected{{"confidence", 0.0}, {"language", model.source}};
      body["detectedLanguage"] = is_list ? json(std::vector<json>(texts.size(), detected)) : detected;
    }
    reply(res, 200, body);
  }

  void detect(const httplib::Request& req, httplib::Response& res) {
    const Fields fields(req);
    admit(req, fields);
    bool is_list = false;
    fields.texts(is_list);
    json answer = json::array();
    std::set<std::string> seen;
    for (const auto& model : models_) {
      if (seen.insert(model.source).second) answer.push_back({{"confidence", 0.0}, {"language", model.source}});
    }
    reply(res, 200, answer);
  }

  void languages(httplib::Response& res) const {
    json list = json::array();
    std::vector<std::string> sources;
    for (const auto& model : models_) {
      if (std::find(sources.begin(), sources.end(), model.source) == sources.end()) sources.push_back(model.source);
    }
    for (const auto& source : sources) {
      std::set<std::string> targets;
      for (const auto& model : models_) {
        if (model.source == source) targets.insert(model.target);
      }
      list.push_back({{"code", source}, {"name", language_name(source)}, {"targets", targets}});
    }
    reply(res, 200, list);
  }

  void settings(httplib::Response& res) const {
    const auto language = [](const std::string& code) { return json{{"code", code}, {"name", language_name(code)}}; };
    reply(res, 200,
          {{"charLimit", args_.char_limit},
           {"frontendTimeout", 500},
           {"apiKeys", !keys_.empty()},
           {"keyRequired", !keys_.empty()},
           {"suggestions", false},
           {"filesTranslation", false},
           {"supportedFilesFormat", json::array()},
           {"language", {{"source", language(models_[0].source)}, {"target", language(models_[0].target)}}}});
  }

  const ServeArgs& args_;
  const std::vector<Model>& models_;
  Batcher& batcher_;
  const std::unordered_set<std::string> keys_;
  RateLimit rate_;
};

std::string status_text(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    default:
      return status >= 500 ? "Internal Server Error" : "Error";
  }
}

int run_serve(ServeArgs& args) {
  if (!args.languages.empty() && args.languages.size() != std::max<size_t>(args.models.size(), 1)) {
    throw UsageError("give --languages once per --model, in the same order, or not at all");
  }
  std::vector<std::string> directories = args.models;
  if (directories.empty()) directories.push_back(find_model(""));
  std::vector<Model> specified;
  for (size_t i = 0; i < directories.size(); ++i) {
    auto [source, target] = model_languages(directories[i], args.languages.empty() ? "" : args.languages[i]);
    for (const auto& other : specified) {
      if (other.source == source && other.target == target) {
        throw UsageError(fmt::format("two models translate {} to {}: '{}' and '{}'", source, target, other.directory,
                                     directories[i]));
      }
    }
    specified.push_back({.directory = directories[i], .source = source, .target = target});
  }
  auto keys = args.api_keys.empty() ? std::unordered_set<std::string>{} : read_api_keys(args.api_keys);

  // SIGINT and SIGTERM are taken by one thread (sigwait) that stops the server: blocked before any thread
  // starts (the driver's too), so that no other thread gets them. SIGPIPE: a client that went away.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Bound before the models load: a wrong address fails at once. Connections wait until listen.
  httplib::Server server;
  const size_t threads = args.threads;
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server.set_payload_max_length(args.max_body);
  server.set_keep_alive_max_count(1000);  // httplib's 5 would reconnect a busy client every 5 requests
  server.set_default_headers({{"Access-Control-Allow-Origin", "*"}});
  server.set_error_handler(
      httplib::Server::HandlerWithResponse([&args](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        const std::string message = res.status == 413 ? fmt::format("Request body larger than {} bytes", args.max_body)
                                                      : status_text(res.status);
        reply(res, res.status, {{"error", message}});
        return httplib::Server::HandlerResponse::Handled;
      }));
  server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    reply(res, 500, {{"error", "Internal server error"}});
  });
  server.Options(R"(.*)", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Access-Control-Allow-Methods", "GET, POST");
    res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
  });
  const int port = args.port == 0 ? server.bind_to_any_port(args.host)
                                  : (server.bind_to_port(args.host, args.port) ? args.port : -1);
  if (port < 0) {
    throw Error(
        fmt::format("cannot listen on {}:{} (in use, or not an address of this machine)", args.host, args.port));
  }

  Context context(args.context);
  std::vector<Model> models = std::move(specified);  // destroyed before the context
  std::vector<Engine*> translators;
  std::vector<DecodeOptions> decode;
  for (auto& model : models) {
    model.translator = std::make_unique<Engine>(context, resolve_model(model.directory), false, args.precision);
    // A CTranslate2 directory without one reads tokens separated by spaces: text would come out as unknowns.
    if (model.translator->tokenizer().kind() == TokenizerKind::tokens) {
      throw Error(fmt::format("'{}' has no SentencePiece model (source.spm and target.spm, or sentencepiece.model): "
                              "serve translates text, which it could not tokenize",
                              model.directory));
    }
    model.decode = model.translator->model_decode_options();
    if (args.beam) model.decode.beam = *args.beam;
    if (args.length_penalty) model.decode.length_penalty = *args.length_penalty;
    if (args.max_length) model.decode.max_length = args.max_length;
    translators.push_back(model.translator.get());
    decode.push_back(model.decode);
    fmt::print(stderr, "vkformer serve: {} -> {}: {} (beam {})\n", model.source, model.target, model.directory,
               model.decode.beam);
  }
  args.batching.wait = std::chrono::milliseconds(args.wait_ms);
  Batcher batcher(translators, decode, args.batching);
  Service service(args, models, batcher, std::move(keys));
  service.routes(server);

  std::atomic<bool> signalled = false, listening_done = false;
  std::thread waiter([&] {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    if (listening_done) return;
    signalled = true;
    fmt::print(stderr, "vkformer serve: {}: answering the requests in flight, then stopping\n",
               signal_number == SIGINT ? "SIGINT" : "SIGTERM");
    // stop() does nothing before the server runs: until listen returns, ask again.
    while (!listening_done) {
      server.stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  out("vkformer serve: listening on http://{}:{}\n", args.host, port);
  flush_output();
  const bool listened = server.listen_after_bind();
  listening_done = true;
  if (!signalled) pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  batcher.stop();
  if (!listened && !signalled) throw Error(fmt::format("the server on {}:{} stopped", args.host, port));
  fmt::print(stderr, "vkformer serve: stopped\n");
  return 0;
}

}  // namespace

void add_serve(CLI::App& app, Run& run) {
  auto* command = app.add_subcommand(
      "serve",
      "LibreTranslate-compatible HTTP server (POST /translate, /detect; GET /languages, /frontend/settings) "
      "with dynamic batching of concurrent requests");
  static ServeArgs args;
  command->add_option("--model", args.models,
                      "Model directory; repeat for several (source and target pick the model). Default: the shipped "
                      "en-de");
  command->add_option("--languages", args.languages,
                      "SOURCE:TARGET codes of each --model, in the same order (default: from the directory's name, "
                      "like en-de or opus-mt-en-de: a Marian directory's files do not say)");
  add_device_options(command, args.context);
  add_weights_option(command, args.precision);
  command->add_option("--host", args.host, "Address to listen on (0.0.0.0: every interface)")->capture_default_str();
  command->add_option("--port", args.port, "Port (0: any free port; the line on stdout says which)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  command
      ->add_option("--api-keys", args.api_keys,
                   "File of API keys, one per line (# comments): /translate and /detect then need api_key "
                   "(403 without a valid one)")
      ->check(CLI::ExistingFile);
  command->add_option("--char-limit", args.char_limit, "Most characters per text")
      ->check(CLI::Range(size_t(1), size_t(1) << 24))
      ->capture_default_str();
  command->add_option("--batch-limit", args.batch_limit, "Most texts in one request's q list")
      ->check(CLI::Range(size_t(1), size_t(1) << 16))
      ->capture_default_str();
  command
      ->add_option("--req-limit", args.req_limit,
                   "Most requests per minute from one client address (0: no limit; 429 above)")
      ->capture_default_str();
  command->add_option("--max-body", args.max_body, "Most bytes in a request body (413 above)")
      ->check(CLI::Range(size_t(1024), size_t(1) << 30))
      ->capture_default_str();
  command->add_option("--threads", args.threads, "HTTP connections served at once")
      ->check(CLI::Range(size_t(1), size_t(1024)))
      ->capture_default_str();
  command
      ->add_option("--max-waiting", args.batching.max_waiting,
                   "Most sentences waiting for translation; a request that would exceed it gets 429")
      ->check(CLI::Range(size_t(1), size_t(1) << 24))
      ->capture_default_str();
  command->add_option("--batch-size", args.batching.batch_sentences, "Most sentences per device batch")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  command->add_option("--batch-tokens", args.batching.batch_tokens,
                      "Also cap sentences x longest source per batch (default 0: no cap)");
  command
      ->add_option("--batch-wait", args.wait_ms,
                   "Milliseconds a batch waits for more sentences once it has one (unless it is full)")
      ->check(CLI::Range(0, 10000))
      ->capture_default_str();
  command
      ->add_option("--beam", args.beam,
                   "Beam size, 1 = greedy (default: the model's: generation_config num_beams for Marian, 2 for "
                   "CTranslate2 as translate_batch, 4 for Argos packages); "
                   "alternatives come from the beam")
      ->check(CLI::Range(1u, kMaxBeam));
  command
      ->add_option("--length-penalty", args.length_penalty,
                   "Beam scores are divided by length^penalty (default: the model's: generation_config for Marian, "
                   "1 for CTranslate2, 0.2 for Argos packages)")
      ->check(finite_between(-10, 10));
  command
      ->add_option("--max-length", args.max_length,
                   "Most tokens per output, counting the start token (default: the model's max_length)")
      ->check(CLI::Range(2u, std::numeric_limits<uint32_t>::max()));
  command
      ->add_option("--max-input-length", args.batching.max_input_tokens,
                   "Most tokens per sentence (400 above), never more than the model's positions")
      ->check(CLI::Range(1u, std::numeric_limits<uint32_t>::max()))
      ->capture_default_str();
  command->callback([&run] { run = [] { return run_serve(args); }; });
}

}  // namespace vkformer::cli
