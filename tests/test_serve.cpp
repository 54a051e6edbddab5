// `vkformer serve` driven over HTTP as LibreTranslate's clients drive it: every route, the errors and their
// status codes, concurrent clients (batched together), and translations equal to `vkformer translate`'s.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <regex>
#include <thread>

#include <fmt/format.h>

#include "test_cli.hpp"
#include "test_cli_child.hpp"
#include "test_context.hpp"

using nlohmann::json;
using vkformer::testing::Child;
using vkformer::testing::CliResult;
using vkformer::testing::read_lines;
using vkformer::testing::run_cli;
using vkformer::testing::TempDir;

namespace {

std::string tiny() { return fmt::format("{}/tiny_swish_shared", VKFORMER_TEST_DATA); }
json golden() { return vkformer::testing::read_test_json("tiny_swish_shared/golden.json"); }

int connect_to(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval timeout{.tv_sec = 120, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(uint16_t(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& data) {
  for (size_t at = 0; at < data.size();) {
    const ssize_t sent = send(fd, data.data() + at, data.size() - at, MSG_NOSIGNAL);
    if (sent <= 0) return false;
    at += size_t(sent);
  }
  return true;
}

struct Reply {
  int status = 0;  // 0: no answer
  std::string body;
  json value() const { return json::parse(body, nullptr, false); }
};

// One HTTP/1.1 request on its own connection (Connection: close), the answer read to its end.
Reply http(int port, const std::string& method, const std::string& path, const std::string& body = "",
           const std::string& type = "application/json") {
  const int fd = connect_to(port);
  if (fd < 0) return {};
  const std::string request = fmt::format(
      "{} {} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n{}",
      method, path, type, body.size(), body);
  std::string answer;
  if (send_all(fd, request)) {
    char chunk[4096];
    for (ssize_t got; (got = recv(fd, chunk, sizeof chunk, 0)) > 0;) answer.append(chunk, size_t(got));
  }
  close(fd);
  Reply reply;
  std::smatch match;
  if (std::regex_search(answer, match, std::regex("^HTTP/1\\.1 (\\d+)"))) reply.status = std::stoi(match[1]);
  if (const size_t end = answer.find("\r\n\r\n"); end != std::string::npos) reply.body = answer.substr(end + 4);
  return reply;
}

Reply post_json(int port, const std::string& path, const json& body) { return http(port, "POST", path, body.dump()); }

// A server on an ephemeral port: the port from its first stdout line.
struct Server {
  explicit Server(const std::vector<std::string>& options)
      : child(
            [&] {
              std::vector<std::string> arguments{"serve",  "--model", tiny(),         "--languages", "en:de",
                                                 "--port", "0",       "--max-length", "16"};
              arguments.insert(arguments.end(), options.begin(), options.end());
              return arguments;
            }(),
            (dir.path() / "err").string()) {
    const auto line = child.read_line();
    REQUIRE(line);
    std::smatch match;
    REQUIRE(std::regex_match(*line, match, std::regex("vkformer serve: listening on http://127\\.0\\.0\\.1:(\\d+)")));
    port = std::stoi(match[1]);
  }
  std::vector<std::string> err() const { return read_lines(dir.path() / "err"); }

  TempDir dir;
  Child child;
  int port = 0;
};

// `vkformer translate`'s output for these lines, greedy as the servers here decode.
std::vector<std::string> translated(const std::vector<std::string>& lines) {
  std::string input;
  for (const auto& line : lines) input += line + "\n";
  const CliResult result = run_cli(fmt::format("translate --model '{}' --beam 1 --max-length 16", tiny()), input);
  REQUIRE(result.exit_code == 0);
  REQUIRE(result.out.size() == lines.size());
  return result.out;
}

std::string form(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string body;
  for (const auto& [name, value] : fields) {
    body += (body.empty() ? "" : "&") + name + "=";
    for (const unsigned char c : value) body += std::isalnum(c) ? std::string(1, char(c)) : fmt::format("%{:02X}", c);
  }
  return body;
}

}  // namespace

TEST_CASE("serve: LibreTranslate's routes, translations equal translate's, errors, concurrent clients",
          "[cli][serve]") {
  Server server({"--beam", "1", "--char-limit", "2000", "--batch-limit", "8", "--max-body", "65536"});
  const int port = server.port;
  const json g = golden();
  const auto sources = g["sources"].get<std::vector<std::string>>();

  const Reply languages = http(port, "GET", "/languages");
  CHECK(languages.status == 200);
  CHECK(languages.value() == json::parse(R"([{"code": "en", "name": "English", "targets": ["de"]}])"));
  const Reply settings = http(port, "GET", "/frontend/settings");
  CHECK(settings.status == 200);
  CHECK(settings.value()["charLimit"] == 2000);
  CHECK(settings.value()["apiKeys"] == false);
  CHECK(settings.value()["language"]["target"]["code"] == "de");
  const Reply detect = http(port, "POST", "/detect", form({{"q", "Hello"}}), "application/x-www-form-urlencoded");
  CHECK(detect.status == 200);
  CHECK(detect.value()[0]["language"] == "en");

  // One sentence per request, JSON and form bodies: translate's output (the golden, which test_cli checks).
  for (size_t i = 0; i < sources.size(); ++i) {
    const Reply reply = post_json(port, "/translate", {{"q", sources[i]}, {"source", "en"}, {"target", "de"}});
    CHECK(reply.status == 200);
    CHECK(reply.value() == json{{"translatedText", g["greedy"]["outputs"][i]["text"]}});
  }
  const Reply by_form = http(port, "POST", "/translate", form({{"q", sources[1]}, {"source", "en"}, {"target", "de"}}),
                             "application/x-www-form-urlencoded");
  CHECK(by_form.status == 200);
  CHECK(by_form.value()["translatedText"] == g["greedy"]["outputs"][1]["text"]);

  // Lines and sentences are translated one by one and put back with the text's own whitespace.
  const auto t = translated({"Hello.", "Thank you very much.", "Where is the train station?", "Hello", "Hello & bye"});
  const Reply text = post_json(
      port, "/translate",
      {{"q", "Hello. Thank you very much.\n\n  Where is the train station?"}, {"source", "en"}, {"target", "de"}});
  CHECK(text.status == 200);
  CHECK(text.value()["translatedText"] == t[0] + " " + t[1] + "\n\n  " + t[2]);
  const Reply list = post_json(
      port, "/translate",
      {{"q", {"Hello", "", "Thank you very much."}}, {"source", "auto"}, {"target", "de"}, {"alternatives", 2}});
  CHECK(list.status == 200);
  CHECK(list.value()["translatedText"] == json{t[3], "", t[1]});
  CHECK(list.value()["alternatives"] == json::parse("[[], [], []]"));  // greedy: no other hypotheses
  CHECK(list.value()["detectedLanguage"][0]["language"] == "en");
  const Reply html = post_json(port, "/translate",
                               {{"q", "<p class=\"x\">Hello <b>Hello.</b> <!-- Hello --></p>"},
                                {"source", "en"},
                                {"target", "de"},
                                {"format", "html"}});
  CHECK(html.status == 200);
  const auto escaped = [](std::string s) {
    std::string out;
    for (const char c : s) out += c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;" : std::string(1, c);
    return out;
  };
  CHECK(html.value()["translatedText"] ==
        "<p class=\"x\">" + escaped(t[3]) + " <b>" + escaped(t[0]) + "</b> <!-- Hello --></p>");

  // Entities decoded before and escaped after; script and style contents are not text.
  const std::string code = "<script>if (a < b) x(\"Hello.\");</script><style>p > b {}</style>";
  const Reply entities = post_json(
      port, "/translate",
      {{"q", "<div>Hello &amp; bye" + code + "</div>"}, {"source", "en"}, {"target", "de"}, {"format", "html"}});
  CHECK(entities.status == 200);
  CHECK(entities.value()["translatedText"] == "<div>" + escaped(t[4]) + code + "</div>");

  // Errors: LibreTranslate's status codes and {"error": ...}.
  const auto error_of = [](const Reply& reply) { return reply.value().value("error", std::string()); };
  const std::vector<std::tuple<std::string, Reply, int, std::string>> errors{
      {"invalid JSON", http(port, "POST", "/translate", "{\"q\": "), 400, "Invalid JSON format"},
      {"JSON not an object", http(port, "POST", "/translate", "[1]"), 400, "Invalid JSON format"},
      {"no q", post_json(port, "/translate", {{"source", "en"}, {"target", "de"}}), 400, "missing q"},
      {"empty q", post_json(port, "/translate", {{"q", ""}, {"source", "en"}, {"target", "de"}}), 400, "missing q"},
      {"q a number", post_json(port, "/translate", {{"q", 5}, {"source", "en"}, {"target", "de"}}), 400, "q"},
      {"no target", post_json(port, "/translate", {{"q", "Hello"}, {"source", "en"}}), 400, "missing target"},
      {"unknown source", post_json(port, "/translate", {{"q", "Hello"}, {"source", "fr"}, {"target", "de"}}), 400,
       "fr is not supported"},
      {"unknown target", post_json(port, "/translate", {{"q", "Hello"}, {"source", "en"}, {"target", "xx"}}), 400,
       "xx is not supported"},
      {"unknown format",
       post_json(port, "/translate", {{"q", "Hello"}, {"source", "en"}, {"target", "de"}, {"format", "pdf"}}), 400,
       "pdf format is not supported"},
      {"alternatives not a number",
       post_json(port, "/translate", {{"q", "Hello"}, {"source", "en"}, {"target", "de"}, {"alternatives", "two"}}),
       400, "alternatives"},
      {"invalid UTF-8 in a form",
       http(port, "POST", "/translate", "q=bad%FF&source=en&target=de", "application/x-www-form-urlencoded"), 400,
       "UTF-8"},
      {"text over --char-limit",
       post_json(port, "/translate", {{"q", std::string(2001, 'a')}, {"source", "en"}, {"target", "de"}}), 400,
       "exceeds text limit (2000)"},
      {"list over --batch-limit",
       post_json(port, "/translate", {{"q", std::vector<std::string>(9, "Hello")}, {"source", "en"}, {"target", "de"}}),
       400, "exceeds text limit (8)"},
      {"body over --max-body", post_json(port, "/translate", {{"q", std::string(70000, 'a')}}), 413, "65536"},
      {"unknown route", http(port, "GET", "/nosuch"), 404, "Not Found"},
      {"GET /translate", http(port, "GET", "/translate"), 404, "Not Found"},
  };
  for (const auto& [name, reply, status, message] : errors) {
    INFO(name << ": " << reply.status << " " << reply.body);
    CHECK(reply.status == status);
    CHECK_THAT(error_of(reply), Catch::Contains(message));
  }

  // Concurrent clients: every answer right; a sentence longer than the model's positions fails only its
  // own request, not the others batched with it.
  std::string too_long;
  for (int i = 0; i < 100; ++i) too_long += "word ";
  std::vector<Reply> replies(16);
  std::vector<std::thread> clients;
  for (size_t c = 0; c < replies.size(); ++c) {
    clients.emplace_back([&, c] {
      const std::string q = c % 4 == 3 ? too_long : sources[c % sources.size()];
      replies[c] = post_json(port, "/translate", {{"q", q}, {"source", "en"}, {"target", "de"}});
    });
  }
  for (auto& client : clients) client.join();
  for (size_t c = 0; c < replies.size(); ++c) {
    INFO("client " << c << ": " << replies[c].body);
    if (c % 4 == 3) {
      CHECK(replies[c].status == 400);
      CHECK_THAT(error_of(replies[c]), Catch::Contains("positions"));
    } else {
      CHECK(replies[c].status == 200);
      CHECK(replies[c].value()["translatedText"] == g["greedy"]["outputs"][c % sources.size()]["text"]);
    }
  }

  // Clients that go away: half a request, and a whole one whose answer nobody reads.
  int fd = connect_to(port);
  send_all(fd, "POST /translate HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"q\":");
  close(fd);
  fd = connect_to(port);
  send_all(fd, fmt::format("POST /translate HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
                           json{{"q", sources[4]}, {"source", "en"}, {"target", "de"}}.dump().size(),
                           json{{"q", sources[4]}, {"source", "en"}, {"target", "de"}}.dump()));
  close(fd);
  CHECK(post_json(port, "/translate", {{"q", sources[0]}, {"source", "en"}, {"target", "de"}}).status == 200);

  // SIGTERM: the server stops and exits 0; stderr has no error (nor validation message).
  server.child.signal(SIGTERM);
  CHECK(server.child.wait() == 0);
  const auto err = server.err();
  CHECK(std::none_of(err.begin(), err.end(), [](const std::string& line) {
    return line.find("error") != std::string::npos || line.find("Validation") != std::string::npos;
  }));
}

TEST_CASE("serve: API keys (403), request limit (429), alternatives from the beam", "[cli][serve]") {
  const TempDir dir;
  std::ofstream(dir.path() / "keys") << "# keys\nsecret-1\n\n  secret-2  \n";
  // The model's generation_config: beam 4.
  Server server({"--api-keys", (dir.path() / "keys").string(), "--req-limit", "4"});
  const int port = server.port;
  const json g = golden();
  const std::string first = g["sources"][0];
  CHECK(http(port, "GET", "/frontend/settings").value()["keyRequired"] == true);

  const Reply no_key = post_json(port, "/translate", {{"q", first}, {"source", "en"}, {"target", "de"}});
  CHECK(no_key.status == 403);
  CHECK(no_key.value()["error"] == "Invalid API key");
  const Reply wrong_key =
      post_json(port, "/translate", {{"q", first}, {"source", "en"}, {"target", "de"}, {"api_key", "x"}});
  CHECK(wrong_key.status == 403);
  CHECK(http(port, "POST", "/detect", form({{"q", "Hello"}}), "application/x-www-form-urlencoded").status == 403);

  const Reply beam =
      post_json(port, "/translate",
                {{"q", first}, {"source", "en"}, {"target", "de"}, {"api_key", "secret-2"}, {"alternatives", 1}});
  INFO(beam.body);
  CHECK(beam.status == 200);
  CHECK(beam.value()["translatedText"] == g["beam"]["outputs"][0][0]["text"]);
  CHECK(beam.value()["alternatives"] == json{g["beam"]["outputs"][0][1]["text"]});

  // --req-limit 4 per minute per address: the requests above with a key counted 1 (403s are refused first).
  int statuses[4] = {};
  for (int& status : statuses) {
    status = http(port, "POST", "/translate",
                  form({{"q", first}, {"source", "en"}, {"target", "de"}, {"api_key", "secret-1"}}),
                  "application/x-www-form-urlencoded")
                 .status;
  }
  CHECK(statuses[0] == 200);
  CHECK(statuses[2] == 200);
  CHECK(statuses[3] == 429);
  server.child.signal(SIGINT);
  CHECK(server.child.wait() == 0);
}

TEST_CASE("serve: bad command lines", "[cli][serve]") {
  const CliResult no_languages = run_cli(fmt::format("serve --model '{}' --port 0", tiny()), "");
  CHECK(no_languages.exit_code == 2);
  REQUIRE(no_languages.err.size() == 1);
  CHECK_THAT(no_languages.err[0], Catch::Contains("--languages"));
  const CliResult bad_pair = run_cli(fmt::format("serve --model '{}' --languages english --port 0", tiny()), "");
  CHECK(bad_pair.exit_code == 2);
  const CliResult twice =
      run_cli(fmt::format("serve --model '{0}' --model '{0}' --languages en:de --port 0", tiny()), "");
  CHECK(twice.exit_code == 2);
  const CliResult no_keys =
      run_cli(fmt::format("serve --model '{}' --languages en:de --api-keys /nonexistent", tiny()), "");
  CHECK(no_keys.exit_code == 2);
  const CliResult bad_host =
      run_cli(fmt::format("serve --model '{}' --languages en:de --host 203.0.113.1 --port 0", tiny()), "");
  CHECK(bad_host.exit_code == 1);
  REQUIRE(bad_host.err.size() == 1);
  CHECK_THAT(bad_host.err[0], Catch::Contains("cannot listen"));
  const CliResult no_sentencepiece = run_cli(
      fmt::format("serve --model '{}/ctranslate2/post_relu_shared' --languages en:de --port 0", VKFORMER_TEST_DATA), "");
  CHECK(no_sentencepiece.exit_code == 1);
  REQUIRE(no_sentencepiece.err.size() == 1);
  CHECK_THAT(no_sentencepiece.err[0], Catch::Contains("has no SentencePiece model") && Catch::Contains("serve translates text"));
}
