// nagent serve's HTTP server: the routes (jobs API, webhooks, SSE, metrics, dashboard) over
// the job store, the workers and the callback sender.
//
//   GET  /                      dashboard page (the page asks for the token)
//   GET  /healthz               liveness and queue depth (no token)
//   GET  /metrics               Prometheus text format (no token)
//   POST /v1/jobs               submit {recipe, repo, ref?, task, ...} -> 202 {id, status}
//   GET  /v1/jobs?status=&limit=
//   GET  /v1/jobs/ID            status, steps, tokens, summary, timings
//   GET  /v1/jobs/ID/events     Server-Sent Events, resumable with Last-Event-ID
//   GET  /v1/jobs/ID/patch      the job's diff        GET /v1/jobs/ID/report
//   POST /v1/jobs/ID/cancel
//   POST /hooks/github          X-Hub-Signature-256, deduplicated by X-GitHub-Delivery
//   POST /hooks/gitlab          X-Gitlab-Token, deduplicated by X-Gitlab-Event-UUID
// Every error is JSON: {"error": {"code", "message", "fields"?}} (api_error.h).
#pragma once

#include <memory>

#include "agent/serve/serve_config.h"

namespace nagent::serve {

class Server {
 public:
  // Opens the store, settles jobs a previous server left running (config.on_restart), and
  // starts the workers. Throws ConfigError / StoreError.
  explicit Server(ServeConfig config);
  ~Server();
  // Binds the listening socket; returns the port (useful with port 0). Throws ConfigError.
  int bind();
  // Serves until stop(); returns false if the server could not listen.
  bool listen();
  void stop();  // safe from another thread
  // Jobs a previous server left running, settled at start-up (re-queued or failed).
  int recovered_jobs() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace nagent::serve
