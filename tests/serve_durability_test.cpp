// Fault tests of nagent serve: the server process is killed with SIGKILL while jobs are
// queued and running (and while webhooks are being accepted), restarted on the same store,
// and every job it had accepted is accounted for. Real subprocesses, sockets and SQLite;
// the model is the scripted server (the test double).
#include <catch2/catch.hpp>

#include <atomic>
#include <set>
#include <thread>

#include "agent/serve/auth.h"
#include "agent/session_store.h"
#include "support/loopback_listener.h"
#include "support/scripted_server.h"
#include "support/serve_fixture.h"
#include "support/swe_basic_script.h"

using namespace nagent;

namespace {

// The model for swe_basic; the first time any job reaches step 2 it answers slowly, so the
// server can be killed while that job runs.
struct SlowOnceModel {
  ScriptedServer server;
  std::atomic<bool> delayed{false};
  SlowOnceModel() {
    server.set_responder([this](const json& request) {
      int step = assistant_turns(request);
      ScriptedReply reply = swe_basic_step(step);
      if (step == 2 && !delayed.exchange(true)) reply.delay_ms = 3000;
      return reply;
    });
  }
  void wait_requests(size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (server.request_count() < n && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    REQUIRE(server.request_count() >= n);
  }
};

std::vector<std::string> submit_jobs(const ServeFixture& serve, const std::filesystem::path& repo, int n) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) {
    auto r = serve.submit({{"recipe", "swe_fix"}, {"repo", repo.string()}, {"task", "job " + std::to_string(i)}});
    REQUIRE(r);
    REQUIRE(r->status == 202);
    ids.push_back(json::parse(r->body)["id"]);
  }
  return ids;
}

int count_events(SessionStore& store, const std::string& id, const std::string& type, const std::string& tool = "") {
  int n = 0;
  for (const auto& e : store.events(id)) n += e.type == type && (tool.empty() || e.data.value("name", "") == tool);
  return n;
}

}  // namespace

TEST_CASE("serve kill -9 with jobs queued and running: after a restart every job finishes and none repeats work", "[serve][fault]") {
  SlowOnceModel model;
  ServeFixture serve(json{{"workers", 1}}, model.server.endpoint());
  const auto repo = serve.make_repo("swe_basic");
  serve.start();
  const auto ids = submit_jobs(serve, repo, 4);
  model.wait_requests(3);  // the first job is in its slow step 2; the other three are queued
  CHECK(serve.job(ids[0])["status"] == "running");
  for (size_t i = 1; i < ids.size(); ++i) CHECK(serve.job(ids[i])["status"] == "queued");
  serve.kill_hard();

  serve.start();
  for (const auto& id : ids) {
    json job = serve.wait_finished(id);
    INFO(job.dump());
    CHECK(job["status"] == "succeeded");
  }
  SessionStore store(serve.db().string());
  CHECK(serve.job(ids[0])["attempts"] == 2);
  CHECK(count_events(store, ids[0], "job_requeued") == 1);
  CHECK(count_events(store, ids[0], "session_resume") == 1);
  CHECK(count_events(store, ids[0], "tool_result", "edit_file") == 1);  // the edit was not repeated
  CHECK(count_events(store, ids[0], "job_end") == 1);
  for (size_t i = 1; i < ids.size(); ++i) CHECK(serve.job(ids[i])["attempts"] == 1);
  auto patch = serve.client()->Get(("/v1/jobs/" + ids[0] + "/patch").c_str());
  CHECK(patch->body.find("+    return (ordered[mid - 1] + ordered[mid]) / 2") != std::string::npos);
  CHECK(serve.stop().err.find("1 job left running by the previous server: re-queued to resume") != std::string::npos);
}

TEST_CASE("serve kill -9 with on_restart fail: the running job is failed with the reason and the queued ones run", "[serve][fault]") {
  SlowOnceModel model;
  ServeFixture serve(json{{"workers", 1}, {"on_restart", "fail"}}, model.server.endpoint());
  const auto repo = serve.make_repo("swe_basic");
  serve.start();
  const auto ids = submit_jobs(serve, repo, 2);
  model.wait_requests(3);
  serve.kill_hard();

  serve.start();
  json killed = serve.wait_finished(ids[0]);
  CHECK(killed["status"] == "failed");
  CHECK(killed["summary"].get<std::string>().find("server stopped while the job ran") != std::string::npos);
  CHECK(serve.wait_finished(ids[1])["status"] == "succeeded");
}

TEST_CASE("serve kill -9 during a webhook burst: every accepted delivery is a stored job", "[serve][fault][webhook]") {
  TempDir repos("burst-repos");
  make_example_repo("swe_basic", repos.path() / "stats");
  ServeFixture serve(json{{"workers", 0},
                          {"max_queue", 1000000},
                          {"rate_per_s", 1e6},  // the check below reads every job back
                          {"rate_burst", 1e6},
                          {"repos", {{"acme/stats", (repos.path() / "stats").string()}}},
                          {"repo_roots", {repos.str()}}});
  serve.start();
  const std::string body =
      json{{"action", "created"},
           {"repository", {{"full_name", "acme/stats"}}},
           {"issue", {{"number", 1}, {"title", "median"}, {"body", ""}}},
           {"comment", {{"body", "/nagent fix"}, {"author_association", "OWNER"}}}}
          .dump();
  const std::string signature = serve::signature_header(kGithubSecret, body);

  std::mutex mutex;
  std::map<std::string, std::string> accepted;  // delivery -> job id, answered 202
  std::atomic<bool> stop{false};
  std::atomic<int> next{0};
  std::vector<std::thread> senders;
  for (int t = 0; t < 4; ++t)
    senders.emplace_back([&] {
      httplib::Client c(serve.base_url());
      c.set_connection_timeout(1);
      while (!stop) {
        const std::string delivery = "burst-" + std::to_string(next++);
        auto r = c.Post("/hooks/github", {{"X-GitHub-Event", "issue_comment"}, {"X-GitHub-Delivery", delivery},
                                          {"X-Hub-Signature-256", signature}},
                        body, "application/json");
        if (r && r->status == 202) {
          std::lock_guard lock(mutex);
          accepted[delivery] = json::parse(r->body)["id"];
        }
      }
    });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(mutex);
      if (accepted.size() >= 300) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  serve.kill_hard();  // while the senders are still sending
  stop = true;
  for (auto& t : senders) t.join();
  REQUIRE(accepted.size() >= 300);

  serve.start();
  auto c = serve.client();
  size_t found = 0;
  for (const auto& [delivery, id] : accepted) {
    auto r = c->Get(("/v1/jobs/" + id).c_str());
    found += r && r->status == 200 && json::parse(r->body)["status"] == "queued";
  }
  CHECK(found == accepted.size());
  // The dedupe records survived too: redelivering an accepted one finds its job.
  const auto& [delivery, id] = *accepted.begin();
  auto replay = serve.client("")->Post("/hooks/github", {{"X-GitHub-Event", "issue_comment"}, {"X-GitHub-Delivery", delivery},
                                                         {"X-Hub-Signature-256", signature}},
                                       body, "application/json");
  REQUIRE(replay);
  CHECK(replay->status == 200);
  CHECK(json::parse(replay->body)["id"] == id);
}

TEST_CASE("serve kill -9 with a callback still pending: it is delivered after the restart", "[serve][fault][callback]") {
  ScriptedServer model;
  model.set_responder([](const json& request) { return swe_basic_step(assistant_turns(request)); });
  const int receiver_port = LoopbackListener().port();  // nothing listens there yet: refused
  ServeFixture serve(json{{"workers", 1}, {"callback_attempts", 50}, {"callback_backoff_s", 0.1}}, model.endpoint());
  const auto repo = serve.make_repo("swe_basic");
  serve.start();
  auto r = serve.submit({{"recipe", "swe_fix"},
                         {"repo", repo.string()},
                         {"task", "fix the median"},
                         {"callback_url", "http://127.0.0.1:" + std::to_string(receiver_port) + "/hook"}});
  const std::string id = json::parse(r->body)["id"];
  serve.wait_finished(id);
  SessionStore store(serve.db().string());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (count_events(store, id, "callback") < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(count_events(store, id, "callback") >= 2);  // refused, retried
  REQUIRE(serve.job(id)["callback"] == "pending");
  serve.kill_hard();

  httplib::Server receiver;
  std::atomic<int> received{0};
  std::string signature, body;
  receiver.Post("/hook", [&](const httplib::Request& req, httplib::Response& res) {
    signature = req.get_header_value("X-Nagent-Signature-256");
    body = req.body;
    ++received;
    res.status = 204;
  });
  REQUIRE(receiver.bind_to_port("127.0.0.1", receiver_port));
  std::thread receiver_thread([&] { receiver.listen_after_bind(); });
  serve.start();
  const auto delivered_by = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (serve.job(id).value("callback", "") != "delivered" && std::chrono::steady_clock::now() < delivered_by)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  receiver.stop();
  receiver_thread.join();
  CHECK(serve.job(id)["callback"] == "delivered");
  CHECK(received == 1);
  CHECK(serve::signature_valid(kCallbackSecret, body, signature));
  CHECK(json::parse(body)["job"]["id"] == id);
}
