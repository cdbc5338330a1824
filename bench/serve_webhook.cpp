// nagent serve's webhook accept path (verify the HMAC signature, deduplicate the delivery,
// enqueue the job durably in SQLite, answer 202) under wrk over loopback, against the same
// server's GET /healthz (no signature, no store) as the baseline.
//
//   build/bench/bench_serve_webhook [seconds=10] [connections=16] [wrk threads=2]
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "agent/serve/auth.h"
#include "agent/serve/job_request.h"
#include "agent/serve/job_store.h"
#include "agent/serve/server.h"
#include "bench_util.h"
#include "wrk_summary.h"

using namespace nagent;

int main(int argc, char** argv) {
  const int seconds = argc > 1 ? std::atoi(argv[1]) : 10;
  const int connections = argc > 2 ? std::atoi(argv[2]) : 16;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 2;
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("nagent-bench-serve-" + std::to_string(getpid()));
  fs::create_directories(dir / "repo");
  if (std::system(("git init -q '" + (dir / "repo").string() + "'").c_str()) != 0) return 1;

  const std::string secret = "bench-secret";
  setenv("NAGENT_API_TOKEN", "bench-token", 1);
  setenv("NAGENT_GITHUB_SECRET", secret.c_str(), 1);
  serve::ServeConfig config;
  config.port = 0;
  config.workers = 0;  // accept only: the path measured ends at the durable enqueue
  config.http_threads = connections + 8;
  config.max_queue = 100000000;
  config.db = (dir / "bench.db").string();
  config.repo_roots = {dir.string()};
  config.repos = {{"acme/stats", (dir / "repo").string()}};
  serve::finish_config(config);
  const std::string db = config.db;
  serve::Server server(config);
  const int port = server.bind();
  std::thread listener([&] { server.listen(); });

  const std::string body =
      json{{"action", "created"},
           {"repository", {{"full_name", "acme/stats"}}},
           {"issue", {{"number", 1}, {"title", "median is wrong"}, {"body", "even lengths give the wrong value"}}},
           {"comment", {{"body", "/nagent fix"}, {"author_association", "OWNER"}, {"user", {{"login", "bench"}}}}}}
          .dump();
  setenv("NAGENT_WRK_BODY", body.c_str(), 1);
  setenv("NAGENT_WRK_SIGNATURE", serve::signature_header(secret, body).c_str(), 1);
  // The store's share: the same jobs enqueued directly, one thread, no HTTP.
  double enqueue_us = 0;
  {
    serve::JobStore direct((dir / "direct.db").string());
    const json spec = serve::validate_job_request(
        {{"recipe", "swe_fix"}, {"repo", (dir / "repo").string()}, {"task", "median is wrong"}}, config);
    const int n = 5000;
    const double t0 = bench::now_ms();
    for (int i = 0; i < n; ++i) direct.enqueue(spec, "github", "github:direct-" + std::to_string(i), config.max_queue);
    enqueue_us = (bench::now_ms() - t0) * 1000 / n;
  }
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  const std::string shape = "-t" + std::to_string(threads) + " -c" + std::to_string(connections) + " -d" +
                            std::to_string(seconds) + "s ";
  bench::WrkSummary accept = bench::run_wrk(shape + url + "/hooks/github");
  unsetenv("NAGENT_WRK_BODY");
  bench::WrkSummary baseline = bench::run_wrk(shape + url + "/healthz");
  server.stop();
  listener.join();

  int64_t jobs = 0;
  {
    serve::JobStore store(db);
    jobs = store.queued();
  }
  std::printf("wrk %s over loopback, %d s each\n", shape.c_str(), seconds);
  for (const auto& [name, r] : {std::pair{"POST /hooks/github      ", &accept}, std::pair{"GET /healthz (baseline)", &baseline}})
    std::printf("  %s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  non-2xx %ld  socket errors %ld\n", name,
                r->requests_per_s(), r->p50_ms, r->p99_ms, r->non_2xx, r->socket_errors);
  std::printf("  accept / baseline throughput: %.2f\n",
              baseline.requests_per_s() > 0 ? accept.requests_per_s() / baseline.requests_per_s() : 0);
  std::printf("  JobStore::enqueue alone (one thread, no HTTP): %.0f us per job (%.0f jobs/s)\n", enqueue_us, 1e6 / enqueue_us);
  std::printf("  jobs stored: %lld for %ld requests wrk counted (in-flight ones at the end are stored too)\n",
              static_cast<long long>(jobs), accept.requests);
  if (!accept.ok()) std::printf("wrk output:\n%s\n", accept.output.c_str());
  fs::remove_all(dir);
  return accept.ok() && jobs >= accept.requests - accept.non_2xx ? 0 : 1;
}
