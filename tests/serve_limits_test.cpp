// nagent serve's bounds: a job's maximum wall time, cancelling a running job, the bound on
// open event streams, and hostile input over raw sockets (garbage, absurd lengths, huge
// headers, deeply nested JSON, invalid UTF-8): the server answers each precisely and stays up.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <set>
#include <thread>

#include "agent/serve/auth.h"
#include "support/scripted_server.h"
#include "support/serve_fixture.h"
#include "support/swe_basic_script.h"

using namespace nagent;

namespace {

// True once reply holds a whole response (headers and Content-Length bytes of body).
bool response_complete(const std::string& reply) {
  const size_t end = reply.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  const size_t at = reply.find("Content-Length: ");
  const size_t length = at == std::string::npos || at > end ? 0 : std::stoul(reply.substr(at + 16));
  return reply.size() >= end + 4 + length;
}

// Sends raw bytes on a fresh connection and returns the response (or what came before the
// server closed the connection, or 5 s passed).
std::string raw_exchange(int port, const std::string& bytes) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may stop reading (and close) early
    sent += size_t(n);
  }
  std::string reply;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
    reply.append(buf, size_t(n));
    if (response_complete(reply)) break;  // a kept-alive connection would wait for more
  }
  ::close(fd);
  return reply;
}

int status_of(const std::string& reply) { return reply.size() > 12 ? std::stoi(reply.substr(9, 3)) : 0; }

// The swe_basic script, every reply delay_ms late.
std::function<ScriptedReply(const json&)> slow_swe_basic(int delay_ms) {
  return [delay_ms](const json& request) {
    ScriptedReply reply = swe_basic_step(assistant_turns(request));
    reply.delay_ms = delay_ms;
    return reply;
  };
}

}  // namespace

TEST_CASE("serve: a job past max_job_s is stopped and failed with the reason", "[serve][limits]") {
  ScriptedServer model;
  model.set_responder(slow_swe_basic(1500));
  ServeFixture serve(json{{"workers", 1}, {"max_job_s", 1}}, model.endpoint());
  const auto repo = serve.make_repo("swe_basic");
  serve.start();
  auto r = serve.submit({{"recipe", "swe_fix"}, {"repo", repo.string()}, {"task", "t"}});
  REQUIRE(r->status == 202);
  json job = serve.wait_finished(json::parse(r->body)["id"]);
  CHECK(job["status"] == "failed");
  CHECK(job["summary"].get<std::string>().find("max_job_s (1 s)") != std::string::npos);
  CHECK(job["steps"].get<int>() < 4);
}

TEST_CASE("serve: cancelling a running job stops it before its next step", "[serve][limits]") {
  ScriptedServer model;
  model.set_responder(slow_swe_basic(800));
  ServeFixture serve(json{{"workers", 1}}, model.endpoint());
  const auto repo = serve.make_repo("swe_basic");
  serve.start();
  auto r = serve.submit({{"recipe", "swe_fix"}, {"repo", repo.string()}, {"task", "t"}});
  const std::string id = json::parse(r->body)["id"];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (model.request_count() < 1 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(serve.job(id)["status"] == "running");
  auto cancel = serve.client()->Post(("/v1/jobs/" + id + "/cancel").c_str(), "", "application/json");
  CHECK(cancel->status == 202);
  json job = serve.wait_finished(id);
  CHECK(job["status"] == "cancelled");
  CHECK(job["steps"].get<int>() < 4);
}

TEST_CASE("serve: event streams are bounded so they cannot take every connection", "[serve][limits]") {
  ServeFixture serve(json{{"workers", 0}, {"http_threads", 6}});  // room for 2 streams
  const auto repo = serve.make_repo("swe_basic");
  serve.start();
  auto r = serve.submit({{"recipe", "swe_fix"}, {"repo", repo.string()}, {"task", "t"}});
  const std::string id = json::parse(r->body)["id"];
  std::atomic<int> streaming{0};
  std::vector<std::thread> streams;
  std::vector<int> stream_status(2, 0);
  for (int i = 0; i < 2; ++i)
    streams.emplace_back([&, i] {
      auto c = serve.client();
      auto res = c->Get(("/v1/jobs/" + id + "/events").c_str(), [&](const char*, size_t) {
        ++streaming;
        return true;
      });
      stream_status[i] = res ? res->status : -1;
    });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (streaming < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(streaming >= 2);
  auto third = serve.client()->Get(("/v1/jobs/" + id + "/events").c_str());
  CHECK(third->status == 503);
  CHECK(json::parse(third->body)["error"]["code"] == "too_many_streams");
  CHECK(serve.client("")->Get("/healthz")->status == 200);  // the API still answers
  // Cancelling the job ends both streams (job_end), which frees their slots.
  CHECK(serve.client()->Post(("/v1/jobs/" + id + "/cancel").c_str(), "", "application/json")->status == 202);
  for (auto& t : streams) t.join();
  CHECK(stream_status == std::vector<int>{200, 200});
  CHECK(serve.client()->Get(("/v1/jobs/" + id + "/events").c_str())->status == 200);
}

TEST_CASE("serve: hostile input over raw sockets is answered and the server stays up", "[serve][limits]") {
  ServeFixture serve(json{{"workers", 0}});
  const auto repo = serve.make_repo("swe_basic");
  serve.start();
  const std::string auth = std::string("Authorization: Bearer ") + kServeToken + "\r\n";
  auto post = [&](const std::string& body, const std::string& extra_headers = "") {
    return "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n" + auth +
           extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  };
  CHECK(status_of(raw_exchange(serve.port(), "GARBAGE\r\n\r\n")) == 400);
  CHECK(status_of(raw_exchange(serve.port(), "GET / HTTP/9.9\r\n\r\n")) >= 400);
  CHECK(status_of(raw_exchange(serve.port(),
                               "POST /v1/jobs HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 99999999999999\r\n\r\n")) == 413);
  CHECK(status_of(raw_exchange(serve.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(100000, 'a') +
                                                 "\r\n\r\n")) != 200);
  // Nested a quarter of a million levels deep (within the body limit).
  const std::string deep = std::string(250000, '[') + std::string(250000, ']');
  CHECK(status_of(raw_exchange(serve.port(), post(deep))) == 400);
  const std::string bad_utf8 = json{{"recipe", "swe_fix"}, {"repo", repo.string()}, {"task", "x"}}.dump();
  std::string broken = bad_utf8;
  broken.replace(broken.find("\"x\""), 3, "\"\xff\xfe\"");
  std::string reply = raw_exchange(serve.port(), post(broken));
  CHECK(status_of(reply) == 400);
  CHECK(reply.find("invalid_json") != std::string::npos);
  CHECK(status_of(raw_exchange(serve.port(), "POST /v1/jobs HTTP/1.1\r\nHost: x\r\n" + auth +
                                                 "Transfer-Encoding: chunked\r\n\r\nzz\r\n")) == 400);
  // After all of it: alive, and a good request still works.
  CHECK(serve.client("")->Get("/healthz")->status == 200);
  CHECK(serve.submit({{"recipe", "swe_fix"}, {"repo", repo.string()}, {"task", "t"}})->status == 202);
}

namespace {

// Every variant of a JSON document with one value (at any depth) replaced by a value of
// another type: the type confusions a sloppy or hostile client sends.
std::vector<json> type_confusions(const json& doc) {
  static const std::vector<json> replacements = {nullptr, 7, -1.5, "s", json::array(), json::object(), true};
  std::vector<json> out;
  const json flat = doc.flatten();
  std::set<std::string> pointers;
  for (const auto& [pointer, value] : flat.items())
    for (std::string p = pointer; !p.empty(); p = p.substr(0, p.rfind('/'))) pointers.insert(p);
  for (const auto& pointer : pointers)
    for (const json& r : replacements) {
      json variant = doc;
      variant[json::json_pointer(pointer)] = r;
      out.push_back(variant);
    }
  return out;
}

}  // namespace

TEST_CASE("serve: type-confused job requests and webhook payloads get 4xx and never 5xx", "[serve][limits]") {
  TempDir repos("confusion-repos");
  make_example_repo("swe_basic", repos.path() / "stats");
  ServeFixture serve(json{{"workers", 0},
                          {"max_queue", 100000},
                          {"rate_per_s", 1e6},
                          {"rate_burst", 1e6},
                          {"pull_request_recipe", "swe_fix"},
                          {"repos", {{"acme/stats", (repos.path() / "stats").string()}}},
                          {"repo_roots", {repos.str()}}});
  serve.start();
  auto api = serve.client();
  auto hooks = serve.client("");
  int sent = 0, server_errors = 0;
  auto check = [&](const httplib::Result& r, const json& body) {
    ++sent;
    REQUIRE(r);
    if (r->status >= 500) {
      ++server_errors;
      UNSCOPED_INFO(r->status << " for " << body.dump() << ": " << r->body);
    }
  };
  const json job = {{"recipe", "swe_fix"}, {"repo", (repos.path() / "stats").string()}, {"task", "t"},
                    {"ref", "main"}, {"max_steps", 3}, {"idempotency_key", "k"}};
  for (const json& body : type_confusions(job)) check(api->Post("/v1/jobs", body.dump(), "application/json"), body);

  const json comment = {{"action", "created"},
                        {"repository", {{"full_name", "acme/stats"}, {"clone_url", "https://example.com/a.git"}}},
                        {"issue", {{"number", 1}, {"title", "t"}, {"body", "b"}, {"pull_request", {{"url", "u"}}}}},
                        {"comment", {{"body", "/nagent fix x"}, {"author_association", "OWNER"}, {"user", {{"login", "l"}}}}}};
  const json pr = {{"action", "opened"}, {"number", 2}, {"repository", {{"full_name", "acme/stats"}}},
                   {"pull_request", {{"title", "t"}, {"body", "b"}, {"author_association", "OWNER"}, {"head", {{"sha", "abc"}}}}}};
  int delivery = 0;
  for (const auto& [event, doc] : {std::pair{"issue_comment", comment}, std::pair{"pull_request", pr}})
    for (const json& body : type_confusions(doc)) {
      const std::string text = body.dump();
      check(hooks->Post("/hooks/github", {{"X-GitHub-Event", event}, {"X-GitHub-Delivery", std::to_string(++delivery)},
                                          {"X-Hub-Signature-256", serve::signature_header(kGithubSecret, text)}},
                        text, "application/json"),
            body);
    }
  const json note = {{"project", {{"path_with_namespace", "acme/stats"}}},
                     {"user", {{"username", "u"}}},
                     {"object_attributes", {{"note", "/nagent fix"}}},
                     {"merge_request", {{"title", "t"}, {"description", "d"}, {"last_commit", {{"id", "abc"}}}}}};
  for (const json& body : type_confusions(note))
    check(hooks->Post("/hooks/gitlab", {{"X-Gitlab-Event", "Note Hook"}, {"X-Gitlab-Event-UUID", std::to_string(++delivery)},
                                        {"X-Gitlab-Token", kGitlabToken}},
                      body.dump(), "application/json"),
          body);
  CHECK(sent > 250);
  CHECK(server_errors == 0);
  CHECK(hooks->Get("/healthz")->status == 200);
}
