// nagent serve's webhooks over real sockets on 127.0.0.1: GitHub's X-Hub-Signature-256
// (its documented example), delivery deduplication, comment commands and pull_request
// events mapped to jobs; GitLab's X-Gitlab-Token and X-Gitlab-Event-UUID.
#include <catch2/catch.hpp>

#include <thread>

#include "agent/serve/auth.h"
#include "agent/serve/webhooks.h"
#include "support/loopback_listener.h"
#include "support/serve_fixture.h"

using namespace nagent;

namespace {

httplib::Result github(const ServeFixture& serve, const std::string& event, const std::string& delivery,
                       const std::string& body, const std::string& signature) {
  httplib::Headers headers = {{"X-GitHub-Event", event}, {"X-GitHub-Delivery", delivery}};
  if (!signature.empty()) headers.emplace("X-Hub-Signature-256", signature);
  return serve.client("")->Post("/hooks/github", headers, body, "application/json");
}

httplib::Result github_signed(const ServeFixture& serve, const std::string& event, const std::string& delivery,
                              const json& payload) {
  const std::string body = payload.dump();
  return github(serve, event, delivery, body, serve::signature_header(kGithubSecret, body));
}

json comment(const std::string& text, const std::string& association = "MEMBER") {
  return {{"action", "created"},
          {"repository", {{"full_name", "acme/stats"}, {"clone_url", "https://github.com/acme/stats.git"}}},
          {"issue", {{"number", 12}, {"title", "median is wrong"}, {"body", "even lengths give the wrong value"}}},
          {"comment", {{"body", text}, {"author_association", association}, {"user", {{"login", "dana"}}}}}};
}

json body_of(const httplib::Result& r) {
  REQUIRE(r);
  return json::parse(r->body);
}

}  // namespace

TEST_CASE("github webhook: the documented signature example is accepted and a one-byte change rejected", "[serve][webhook]") {
  ServeFixture serve(json{{"workers", 0}});
  serve.start();
  const std::string documented = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
  // GitHub's example body is not JSON; a ping needs no body, so the signature alone decides.
  auto ok = github(serve, "ping", "d-1", "Hello, World!", documented);
  REQUIRE(ok);
  CHECK(ok->status == 200);
  CHECK(body_of(ok)["ignored"] == "ping");
  auto changed = github(serve, "ping", "d-2", "Hello, World?", documented);
  CHECK(changed->status == 401);
  CHECK(body_of(changed)["error"]["code"] == "bad_signature");
  auto missing = github(serve, "ping", "d-3", "Hello, World!", "");
  CHECK(missing->status == 401);
  CHECK(body_of(missing)["error"]["message"].get<std::string>().find("X-Hub-Signature-256") != std::string::npos);
  auto metrics = serve.client("")->Get("/metrics")->body;
  CHECK(metrics.find("nagent_serve_webhook_deliveries_total{source=\"github\",outcome=\"rejected\"} 2") != std::string::npos);
}

TEST_CASE("github webhook: comment commands become jobs and redeliveries are deduplicated", "[serve][webhook]") {
  TempDir repos("github-repos");
  const auto repo = repos.path() / "stats";
  make_example_repo("swe_basic", repo);
  ServeFixture mapped(json{{"workers", 0}, {"pull_request_recipe", "swe_fix"}, {"repos", {{"acme/stats", repo.string()}}},
                           {"repo_roots", {repos.str()}}});
  mapped.start();

  auto created = github_signed(mapped, "issue_comment", "delivery-1", comment("/nagent fix please look at median()"));
  REQUIRE(created->status == 202);
  const std::string id = body_of(created)["id"];
  json job = mapped.job(id);
  CHECK(job["source"] == "github");
  CHECK(job["recipe"] == "swe_fix");
  CHECK(job["repo"] == std::filesystem::canonical(repo).string());
  CHECK(job["task"].get<std::string>().find("median is wrong") != std::string::npos);
  CHECK(job["task"].get<std::string>().find("@dana: please look at median()") != std::string::npos);

  // GitHub redelivers with the same X-GitHub-Delivery: same job, nothing new queued.
  auto replay = github_signed(mapped, "issue_comment", "delivery-1", comment("/nagent fix please look at median()"));
  CHECK(replay->status == 200);
  CHECK(body_of(replay)["id"] == id);
  CHECK(body_of(replay)["duplicate"] == true);
  CHECK(body_of(mapped.client("")->Get("/healthz"))["queue_depth"] == 1);

  SECTION("comments that are no command, or from outsiders, start nothing") {
    auto chatter = github_signed(mapped, "issue_comment", "delivery-2", comment("thanks, looks good"));
    CHECK(chatter->status == 200);
    CHECK(body_of(chatter).contains("ignored"));
    auto outsider = github_signed(mapped, "issue_comment", "delivery-3", comment("/nagent fix", "NONE"));
    CHECK(outsider->status == 200);
    CHECK(body_of(outsider)["ignored"].get<std::string>().find("NONE") != std::string::npos);
    auto unknown_command = github_signed(mapped, "issue_comment", "delivery-4", comment("/nagent dance"));
    CHECK(body_of(unknown_command).contains("ignored"));
    CHECK(body_of(mapped.client("")->Get("/healthz"))["queue_depth"] == 1);
  }
  SECTION("pull_request opened runs the pull request recipe on the head commit") {
    json pr = {{"action", "opened"},
               {"number", 7},
               {"repository", {{"full_name", "acme/stats"}}},
               {"pull_request",
                {{"title", "Speed up mean"}, {"body", ""}, {"author_association", "COLLABORATOR"}, {"head", {{"sha", "abc123"}}}}}};
    auto r = github_signed(mapped, "pull_request", "delivery-5", pr);
    REQUIRE(r->status == 202);
    json pr_job = mapped.job(body_of(r)["id"]);
    CHECK(pr_job["ref"] == "abc123");
    CHECK(pr_job["task"].get<std::string>().find("Review pull request acme/stats#7") != std::string::npos);
    pr["action"] = "closed";
    CHECK(body_of(github_signed(mapped, "pull_request", "delivery-6", pr)).contains("ignored"));
  }
  SECTION("bad payloads and unmapped repositories are answered precisely") {
    auto no_repo = github_signed(mapped, "issue_comment", "delivery-7", json{{"action", "created"}});
    CHECK(no_repo->status == 400);
    CHECK(body_of(no_repo)["error"]["message"].get<std::string>().find("/repository/full_name") != std::string::npos);
    json other = comment("/nagent fix");
    other["repository"]["full_name"] = "acme/other";
    auto unmapped = github_signed(mapped, "issue_comment", "delivery-8", other);
    CHECK(unmapped->status == 422);
    CHECK(body_of(unmapped)["error"]["code"] == "repo_not_allowed");
    auto not_json = github(mapped, "issue_comment", "delivery-9", "{", serve::signature_header(kGithubSecret, "{"));
    CHECK(not_json->status == 400);
    httplib::Headers no_delivery = {{"X-GitHub-Event", "issue_comment"},
                                    {"X-Hub-Signature-256", serve::signature_header(kGithubSecret, "{}")}};
    CHECK(mapped.client("")->Post("/hooks/github", no_delivery, "{}", "application/json")->status == 400);
  }
}

TEST_CASE("gitlab webhook: X-Gitlab-Token and X-Gitlab-Event-UUID deduplication and merge request reviews", "[serve][webhook]") {
  TempDir repos("gitlab-repos");
  make_example_repo("swe_basic", repos.path() / "stats");
  const std::string repo = (repos.path() / "stats").string();
  ServeFixture serve(json{{"workers", 0}, {"pull_request_recipe", "swe_fix"}, {"repos", {{"acme/stats", repo}}},
                          {"repo_roots", {repos.str()}}});
  serve.start();
  json note = {{"object_kind", "note"},
               {"project", {{"path_with_namespace", "acme/stats"}}},
               {"user", {{"username", "lee"}}},
               {"object_attributes", {{"note", "/nagent fix"}}},
               {"issue", {{"title", "median is wrong"}, {"description", "even lengths"}}}};
  auto post = [&](const std::string& token, const std::string& uuid) {
    httplib::Headers h = {{"X-Gitlab-Event", "Note Hook"}, {"X-Gitlab-Event-UUID", uuid}};
    if (!token.empty()) h.emplace("X-Gitlab-Token", token);
    return serve.client("")->Post("/hooks/gitlab", h, note.dump(), "application/json");
  };
  CHECK(post("", "u-1")->status == 401);
  CHECK(post(std::string(kGitlabToken) + "!", "u-1")->status == 401);
  auto created = post(kGitlabToken, "u-1");
  REQUIRE(created->status == 202);
  auto replay = post(kGitlabToken, "u-1");
  CHECK(replay->status == 200);
  CHECK(body_of(replay)["id"] == body_of(created)["id"]);
  CHECK(serve.job(body_of(created)["id"])["source"] == "gitlab");
  CHECK(post(kGitlabToken, "u-2")->status == 202);  // a new event

  json mr = {{"object_kind", "merge_request"},
             {"project", {{"path_with_namespace", "acme/stats"}}},
             {"object_attributes",
              {{"action", "open"}, {"iid", 4}, {"title", "Faster mean"}, {"description", ""}, {"last_commit", {{"id", "f00d"}}}}}};
  httplib::Headers h = {{"X-Gitlab-Event", "Merge Request Hook"}, {"X-Gitlab-Event-UUID", "u-3"}, {"X-Gitlab-Token", kGitlabToken}};
  auto review = serve.client("")->Post("/hooks/gitlab", h, mr.dump(), "application/json");
  REQUIRE(review->status == 202);
  json review_job = serve.job(body_of(review)["id"]);
  CHECK(review_job["ref"] == "f00d");
  CHECK(review_job["task"].get<std::string>().find("Review merge request acme/stats!4: Faster mean") != std::string::npos);
  mr["object_attributes"]["action"] = "merge";
  h = {{"X-Gitlab-Event", "Merge Request Hook"}, {"X-Gitlab-Event-UUID", "u-4"}, {"X-Gitlab-Token", kGitlabToken}};
  CHECK(body_of(serve.client("")->Post("/hooks/gitlab", h, mr.dump(), "application/json")).contains("ignored"));
}

TEST_CASE("webhooks without a configured secret are refused", "[serve][webhook]") {
  // Started here with neither secret (the fixture sets both; run the binary directly).
  TempDir home("serve-nosecret");
  const int port = LoopbackListener().port();
  ChildProcess child({NAGENT_BINARY, "serve", "--listen", "127.0.0.1:" + std::to_string(port), "--workers", "0"},
                     {{"NAGENT_HOME", home.str()}, {"NAGENT_API_TOKEN", "t"}, {"NAGENT_GITHUB_SECRET", ""},
                      {"NAGENT_GITLAB_TOKEN", ""}, {"NAGENT_DATA_DIR", NAGENT_SOURCE_DIR}});
  httplib::Client c("http://127.0.0.1:" + std::to_string(port));
  bool up = false;
  for (int i = 0; i < 500 && !up; ++i) {
    up = bool(c.Get("/healthz"));
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(up);
  auto gh = c.Post("/hooks/github", {{"X-Hub-Signature-256", "sha256=00"}}, "{}", "application/json");
  CHECK(gh->status == 403);
  CHECK(json::parse(gh->body)["error"]["message"].get<std::string>().find("NAGENT_GITHUB_SECRET") != std::string::npos);
  CHECK(c.Post("/hooks/gitlab", "{}", "application/json")->status == 403);
}

TEST_CASE("webhook commands: prefix and word must match exactly", "[serve][webhook]") {
  serve::ServeConfig config;
  config.repos = {{"acme/stats", "/srv/stats"}};
  auto recipe_of = [&](const std::string& text) -> std::string {
    serve::WebhookIntent intent = serve::github_intent("issue_comment", comment(text), config);
    return intent.job_request ? (*intent.job_request)["recipe"].get<std::string>() : "";
  };
  CHECK(recipe_of("/nagent fix") == "swe_fix");
  CHECK(recipe_of("  \n/nagent   fix\tnow") == "swe_fix");
  CHECK(recipe_of("/nagent review") == "review");
  CHECK(recipe_of("/nagentfix").empty());
  CHECK(recipe_of("/nagent").empty());
  CHECK(recipe_of("/nagent fixit").empty());
  CHECK(recipe_of("please /nagent fix").empty());
  CHECK(recipe_of("/NAGENT fix").empty());
  serve::WebhookIntent multi = serve::github_intent("issue_comment", comment("/nagent fix\nuse the median of the two"), config);
  REQUIRE(multi.job_request);
  CHECK((*multi.job_request)["task"].get<std::string>().find("@dana: use the median of the two") != std::string::npos);
  config.command_prefix = "@bot";
  config.commands = {{"go", "swe_fix"}};
  CHECK(recipe_of("@bot go") == "swe_fix");
  CHECK(recipe_of("/nagent fix").empty());
}
