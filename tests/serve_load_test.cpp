// A bounded load test of nagent serve (wrk from Debian, loopback only, 3 s): a burst of
// signed GitHub deliveries, each a new job. Every request must be answered 202 with no
// socket errors, and every answered request must be a queued job in the store afterwards.
// (Throughput and latency are measured in bench/serve_webhook.cpp, not asserted here.)
#include <catch2/catch.hpp>

#include "agent/serve/auth.h"
#include "agent/serve/job_store.h"
#include "bench/wrk_summary.h"
#include "support/serve_fixture.h"

using namespace nagent;

TEST_CASE("serve under a bounded wrk burst answers every delivery and stores every job", "[serve][load]") {
  TempDir repos("load-repos");
  make_example_repo("swe_basic", repos.path() / "stats");
  ServeFixture serve(json{{"workers", 0},
                          {"max_queue", 10000000},
                          {"http_threads", 16},
                          {"repos", {{"acme/stats", (repos.path() / "stats").string()}}},
                          {"repo_roots", {repos.str()}}});
  serve.start();
  const std::string body = json{{"action", "created"},
                                {"repository", {{"full_name", "acme/stats"}}},
                                {"issue", {{"number", 3}, {"title", "median"}, {"body", ""}}},
                                {"comment", {{"body", "/nagent fix"}, {"author_association", "MEMBER"}}}}
                               .dump();
  setenv("NAGENT_WRK_BODY", body.c_str(), 1);
  setenv("NAGENT_WRK_SIGNATURE", serve::signature_header(kGithubSecret, body).c_str(), 1);
  bench::WrkSummary wrk = bench::run_wrk("-t1 -c8 -d3s " + serve.base_url() + "/hooks/github");
  INFO(wrk.output);
  REQUIRE(wrk.ok());
  CHECK(wrk.requests > 100);
  CHECK(wrk.non_2xx == 0);
  CHECK(wrk.socket_errors == 0);
  serve.stop();

  serve::JobStore store(serve.db().string());
  // wrk counts the requests answered within its duration; ones in flight at the end were
  // stored as well, at most one per connection.
  CHECK(store.queued() >= wrk.requests);
  CHECK(store.queued() <= wrk.requests + 8);
}
