// nagent serve's jobs API over real sockets on 127.0.0.1: the real binary as a child
// process, jobs running swe_fix on git copies of examples/swe_basic against the scripted
// model server (the test double), in the default sandbox, stored in SQLite.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "agent/serve/auth.h"
#include "agent/session_store.h"
#include "support/scripted_server.h"
#include "support/serve_fixture.h"
#include "support/swe_basic_script.h"

using namespace nagent;

namespace {

json body_of(const httplib::Result& r) {
  REQUIRE(r);
  return json::parse(r->body);
}

std::string error_code(const httplib::Result& r) { return body_of(r)["error"]["code"]; }

// Reads an SSE stream to its end: the (id, type) of each event.
std::vector<std::pair<int64_t, std::string>> read_events(const ServeFixture& serve, const std::string& id,
                                                         const std::string& last_event_id = "") {
  auto c = serve.client();
  httplib::Headers headers;
  if (!last_event_id.empty()) headers.emplace("Last-Event-ID", last_event_id);
  std::string stream;
  auto r = c->Get(("/v1/jobs/" + id + "/events").c_str(), headers, [&](const char* data, size_t n) {
    stream.append(data, n);
    return true;
  });
  REQUIRE(r);
  CHECK(r->get_header_value("Content-Type") == "text/event-stream");
  std::vector<std::pair<int64_t, std::string>> events;
  size_t pos = 0;
  while ((pos = stream.find("id: ", pos)) != std::string::npos) {
    int64_t seq = std::stoll(stream.substr(pos + 4));
    size_t type_at = stream.find("event: ", pos) + 7;
    events.emplace_back(seq, stream.substr(type_at, stream.find('\n', type_at) - type_at));
    pos = type_at;
  }
  return events;
}

}  // namespace

TEST_CASE("serve: a job runs swe_fix in its own copy with status events patch and report", "[serve][api]") {
  ScriptedServer model;
  model.set_responder([](const json& request) { return swe_basic_step(assistant_turns(request)); });
  ServeFixture serve(json{{"workers", 1}}, model.endpoint());
  const auto repo = serve.make_repo("swe_basic");
  serve.start();

  auto r = serve.submit({{"recipe", "swe_fix"}, {"repo", repo.string()}, {"task", "median is wrong for even lengths"}});
  REQUIRE(r);
  REQUIRE(r->status == 202);
  const std::string id = body_of(r)["id"];
  CHECK(body_of(r)["status"] == "queued");

  json job = serve.wait_finished(id);
  INFO(job.dump());
  CHECK(job["status"] == "succeeded");
  CHECK(job["steps"] == 4);
  CHECK(job["tokens"].get<int64_t>() > 0);
  CHECK(job["timings"]["run_s"].get<double>() > 0);

  // The fix is in the job's copy, not in the submitted repository.
  auto patch = serve.client()->Get(("/v1/jobs/" + id + "/patch").c_str());
  REQUIRE(patch->status == 200);
  CHECK(patch->body.find("+    return (ordered[mid - 1] + ordered[mid]) / 2") != std::string::npos);
  CHECK(read_text(repo / "stats" / "summary.py").find("ordered[mid] + ordered[mid + 1]") != std::string::npos);

  json report = body_of(serve.client()->Get(("/v1/jobs/" + id + "/report").c_str()));
  CHECK(report["ok"] == true);
  CHECK(report["diffstat"].get<std::string>().find("1 file changed") != std::string::npos);

  // The events: one sequence from job_queued to job_end; Last-Event-ID resumes after it.
  auto events = read_events(serve, id);
  REQUIRE(events.size() > 5);
  CHECK(events.front().second == "job_queued");
  CHECK(events[1].second == "job_started");
  CHECK(events[2].second == "session_start");
  CHECK(events.back().second == "job_end");
  for (size_t i = 1; i < events.size(); ++i) CHECK(events[i].first == events[i - 1].first + 1);
  auto tail = read_events(serve, id, std::to_string(events[events.size() - 3].first));
  REQUIRE(tail.size() == 2);
  CHECK(tail[0].first == events[events.size() - 2].first);

  json list = body_of(serve.client()->Get("/v1/jobs?status=succeeded&limit=10"));
  REQUIRE(list["jobs"].size() == 1);
  CHECK(list["jobs"][0]["id"] == id);
  CHECK(body_of(serve.client()->Get("/v1/jobs?status=queued"))["jobs"].empty());

  // Finished jobs cannot be cancelled.
  auto cancel = serve.client()->Post(("/v1/jobs/" + id + "/cancel").c_str(), "", "application/json");
  CHECK(cancel->status == 409);
  CHECK(error_code(cancel) == "job_finished");

  auto metrics = serve.client("")->Get("/metrics");
  CHECK(metrics->body.find("nagent_serve_jobs{state=\"succeeded\"} 1") != std::string::npos);
  CHECK(metrics->body.find("nagent_serve_model_step_seconds_count 4") != std::string::npos);
  CHECK(metrics->body.find("nagent_serve_tool_seconds_count") != std::string::npos);
}

TEST_CASE("serve: idempotency keys queue bound cancel of a queued job", "[serve][api]") {
  ServeFixture serve(json{{"workers", 0}, {"max_queue", 2}});
  const auto repo = serve.make_repo("swe_basic");
  serve.start();
  json request = {{"recipe", "swe_fix"}, {"repo", repo.string()}, {"task", "t"}, {"idempotency_key", "build-41"}};

  auto first = serve.submit(request);
  REQUIRE(first->status == 202);
  auto again = serve.submit(request);
  REQUIRE(again->status == 200);
  CHECK(body_of(again)["id"] == body_of(first)["id"]);
  CHECK(body_of(again)["duplicate"] == true);
  json changed = request;
  changed["task"] = "another task";
  auto conflict = serve.submit(changed);
  CHECK(conflict->status == 409);
  CHECK(error_code(conflict) == "idempotency_key_reused");

  request.erase("idempotency_key");
  REQUIRE(serve.submit(request)->status == 202);
  auto full = serve.submit(request);
  CHECK(full->status == 429);
  CHECK(full->get_header_value("Retry-After") == "5");
  CHECK(error_code(full) == "queue_full");

  const std::string id = body_of(first)["id"];
  auto cancel = serve.client()->Post(("/v1/jobs/" + id + "/cancel").c_str(), "", "application/json");
  CHECK(cancel->status == 202);
  CHECK(serve.job(id)["status"] == "cancelled");
  CHECK(serve.submit(request)->status == 202);  // the cancelled job freed its place
  CHECK(error_code(serve.client()->Get(("/v1/jobs/" + id + "/patch").c_str())) == "no_patch");
  json healthz = body_of(serve.client("")->Get("/healthz"));
  CHECK(healthz["queue_depth"] == 2);
}

TEST_CASE("serve: every bad-input class gets a precise JSON error", "[serve][api][errors]") {
  ServeFixture serve(json{{"workers", 0}, {"max_body_bytes", 4096}});
  const auto repo = serve.make_repo("swe_basic");
  serve.start();
  json good = {{"recipe", "swe_fix"}, {"repo", repo.string()}, {"task", "t"}};
  auto c = serve.client();

  SECTION("authentication") {
    auto none = serve.client("")->Post("/v1/jobs", good.dump(), "application/json");
    CHECK(none->status == 401);
    CHECK(body_of(none)["error"]["message"].get<std::string>().find("Bearer") != std::string::npos);
    CHECK(serve.client("wrong")->Get("/v1/jobs")->status == 401);
    CHECK(serve.client(std::string(kServeToken) + "x")->Get("/v1/jobs")->status == 401);
  }
  SECTION("body shape") {
    auto not_json = c->Post("/v1/jobs", "{\"recipe\": ", "application/json");
    CHECK(not_json->status == 400);
    CHECK(error_code(not_json) == "invalid_json");
    CHECK(c->Post("/v1/jobs", good.dump(), "text/plain")->status == 415);
    auto fields = c->Post("/v1/jobs", json{{"recipe", "swe_fix"}, {"task", 3}}.dump(), "application/json");
    CHECK(fields->status == 400);
    CHECK(body_of(fields)["error"]["fields"]["repo"] == "is required");
    CHECK(body_of(fields)["error"]["fields"]["task"] == "must be a string");
    auto big = c->Post("/v1/jobs", json{{"recipe", "swe_fix"}, {"task", std::string(8000, 'x')}}.dump(), "application/json");
    CHECK(big->status == 413);
    CHECK(error_code(big) == "payload_too_large");
  }
  SECTION("well-formed but unservable") {
    json unknown = good;
    unknown["recipe"] = "no_such_recipe";
    auto r = c->Post("/v1/jobs", unknown.dump(), "application/json");
    CHECK(r->status == 422);
    CHECK(error_code(r) == "unknown_recipe");
    json outside = good;
    outside["repo"] = "/usr";
    CHECK(error_code(c->Post("/v1/jobs", outside.dump(), "application/json")) == "repo_not_allowed");
    json unsandboxed = good;
    unsandboxed["policy"] = "none";
    CHECK(error_code(c->Post("/v1/jobs", unsandboxed.dump(), "application/json")) == "unknown_policy");
  }
  SECTION("unknown things and bad parameters") {
    CHECK(error_code(c->Get("/v1/jobs/20990101-000000-000000000000")) == "job_not_found");
    CHECK(c->Get("/v1/jobs/20990101-000000-000000000000/events")->status == 404);
    CHECK(error_code(c->Get("/v1/nothing")) == "not_found");
    CHECK(c->Get("/v1/jobs?limit=0")->status == 400);
    CHECK(c->Get("/v1/jobs?limit=ten")->status == 400);
    CHECK(body_of(c->Get("/v1/jobs?status=done"))["error"]["fields"].contains("status"));
    auto id = body_of(c->Post("/v1/jobs", good.dump(), "application/json"))["id"].get<std::string>();
    CHECK(c->Get(("/v1/jobs/" + id + "/patch").c_str())->status == 409);  // still queued
    httplib::Headers bad_resume = {{"Last-Event-ID", "abc"}};
    CHECK(c->Get(("/v1/jobs/" + id + "/events").c_str(), bad_resume)->status == 400);
  }
  // The server is still up after all of it.
  CHECK(serve.client("")->Get("/healthz")->status == 200);
}

TEST_CASE("serve: per-token rate limit answers 429 with Retry-After", "[serve][api][errors]") {
  ServeFixture serve(json{{"workers", 0}, {"rate_per_s", 0.5}, {"rate_burst", 3}});
  serve.start();
  auto c = serve.client();
  for (int i = 0; i < 3; ++i) CHECK(c->Get("/v1/jobs")->status == 200);
  auto limited = c->Get("/v1/jobs");
  CHECK(limited->status == 429);
  CHECK(error_code(limited) == "rate_limited");
  CHECK(std::stoi(limited->get_header_value("Retry-After")) >= 1);
  CHECK(serve.client("")->Get("/healthz")->status == 200);  // unauthenticated routes are not limited
}

TEST_CASE("serve: the result is POSTed to callback_url signed and retried after a failure", "[serve][api][callback]") {
  ScriptedServer model;
  model.set_responder([](const json& request) { return swe_basic_step(assistant_turns(request)); });
  httplib::Server receiver;
  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> received;  // (signature, body)
  receiver.Post("/done", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mutex);
    received.emplace_back(req.get_header_value("X-Nagent-Signature-256"), req.body);
    res.status = received.size() == 1 ? 503 : 200;  // the first attempt fails
  });
  const int port = receiver.bind_to_any_port("127.0.0.1");
  std::thread receiver_thread([&] { receiver.listen_after_bind(); });

  ServeFixture serve(json{{"workers", 1}, {"callback_backoff_s", 0.2}}, model.endpoint());
  const auto repo = serve.make_repo("swe_basic");
  serve.start();
  auto r = serve.submit({{"recipe", "swe_fix"},
                         {"repo", repo.string()},
                         {"task", "fix the median"},
                         {"callback_url", "http://127.0.0.1:" + std::to_string(port) + "/done"}});
  REQUIRE(r->status == 202);
  const std::string id = body_of(r)["id"];
  serve.wait_finished(id);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (serve.job(id).value("callback", "") == "pending" && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  receiver.stop();
  receiver_thread.join();

  CHECK(serve.job(id)["callback"] == "delivered");
  REQUIRE(received.size() == 2);
  for (const auto& [signature, body] : received) CHECK(serve::signature_valid(kCallbackSecret, body, signature));
  json payload = json::parse(received[1].second);
  CHECK(payload["job"]["id"] == id);
  CHECK(payload["job"]["status"] == "succeeded");
  CHECK(payload["patch"].get<std::string>().find("ordered[mid - 1]") != std::string::npos);
}

TEST_CASE("serve: a job that cannot start fails with the reason", "[serve][api]") {
  ServeFixture serve(json{{"workers", 1}});  // no model endpoint configured
  const auto repo = serve.make_repo("swe_basic");
  serve.start();
  auto no_model = serve.submit({{"recipe", "swe_fix"}, {"repo", repo.string()}, {"task", "t"}});
  json job = serve.wait_finished(body_of(no_model)["id"]);
  CHECK(job["status"] == "failed");
  CHECK(job["summary"].get<std::string>().find("--endpoint") != std::string::npos);

  auto bad_ref = serve.submit({{"recipe", "swe_fix"}, {"repo", repo.string()}, {"task", "t"}, {"ref", "no-such-branch"}});
  json ref_job = serve.wait_finished(body_of(bad_ref)["id"]);
  CHECK(ref_job["status"] == "failed");
  CHECK(ref_job["summary"].get<std::string>().find("cannot check out ref 'no-such-branch'") != std::string::npos);
  json report = body_of(serve.client()->Get(("/v1/jobs/" + ref_job["id"].get<std::string>() + "/report").c_str()));
  CHECK(report["exit_code"] == 3);
  CHECK(serve.client("")->Get("/metrics")->body.find("nagent_serve_job_runtime_errors_total 1") != std::string::npos);
}

TEST_CASE("serve: a job's sandboxed tools see its own copy and not the other jobs' workspaces", "[serve][api][sandbox]") {
  ScriptedServer model;
  ServeFixture serve(json{{"workers", 1}}, model.endpoint());
  const std::string work_dir = (serve.home() / "serve-jobs").string();
  model.set_responder([&](const json& request) -> ScriptedReply {
    if (assistant_turns(request) == 0)
      return {.content = text_call("shell", {{"command", "ls stats/summary.py && ls '" + work_dir + "' 2>&1; echo listed"}})};
    return {.content = text_call("finish", {{"summary", "looked around"}})};
  });
  const auto repo = serve.make_repo("swe_basic");
  serve.start();
  // The first job leaves its workspace behind; the second must not see it.
  std::vector<std::string> ids;
  for (int i = 0; i < 2; ++i) {
    auto r = serve.submit({{"recipe", "swe_fix"}, {"repo", repo.string()}, {"task", "look around"}});
    ids.push_back(json::parse(r->body)["id"]);
    serve.wait_finished(ids.back());
  }
  REQUIRE(std::filesystem::is_directory(std::filesystem::path(work_dir) / ids[0] / "repo"));
  SessionStore store(serve.db().string());
  std::string output;
  for (const auto& e : store.events(ids[1]))
    if (e.type == "tool_result" && e.data["name"] == "shell") output = e.data["output"];
  INFO(output);
  CHECK(output.find("stats/summary.py") != std::string::npos);  // its own copy
  // In the sandbox the jobs' folder holds only the path down to its own workspace.
  CHECK(output.find(ids[1]) != std::string::npos);
  CHECK(output.find(ids[0]) == std::string::npos);
  CHECK(output.find("listed") != std::string::npos);
}

TEST_CASE("serve: an https callback speaks TLS and gives up after its attempts when the peer does not", "[serve][api][callback]") {
  httplib::Server plain;  // answers plain HTTP only: the TLS handshake must fail
  std::atomic<int> handled{0};
  plain.Post("/done", [&](const httplib::Request&, httplib::Response& res) {
    ++handled;
    res.status = 200;
  });
  const int port = plain.bind_to_any_port("127.0.0.1");
  std::thread plain_thread([&] { plain.listen_after_bind(); });
  ServeFixture serve(json{{"workers", 0}, {"callback_attempts", 2}, {"callback_backoff_s", 0.1}});
  const auto repo = serve.make_repo("swe_basic");
  serve.start();
  auto r = serve.submit({{"recipe", "swe_fix"},
                         {"repo", repo.string()},
                         {"task", "t"},
                         {"callback_url", "https://127.0.0.1:" + std::to_string(port) + "/done"}});
  REQUIRE(r->status == 202);
  const std::string id = body_of(r)["id"];
  // Cancelled while queued: it ends at once, and owes its callback.
  REQUIRE(serve.client()->Post(("/v1/jobs/" + id + "/cancel").c_str(), "", "application/json")->status == 202);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (serve.job(id).value("callback", "") == "pending" && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  plain.stop();
  plain_thread.join();
  CHECK(serve.job(id)["callback"] == "failed");
  CHECK(handled == 0);
  SessionStore store(serve.db().string());
  int attempts = 0;
  for (const auto& e : store.events(id))
    if (e.type == "callback") {
      ++attempts;
      CHECK(e.data.contains("error"));
    }
  CHECK(attempts == 2);
}
