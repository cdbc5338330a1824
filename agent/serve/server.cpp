#include "agent/serve/server.h"

#include <httplib.h>

#include <atomic>
#include <cmath>

#include "agent/errors.h"
#include "agent/serve/api_error.h"
#include "agent/serve/auth.h"
#include "agent/serve/callbacks.h"
#include "agent/serve/change_signal.h"
#include "agent/serve/dashboard_page.h"
#include "agent/serve/job_request.h"
#include "agent/serve/job_store.h"
#include "agent/serve/job_workers.h"
#include "agent/serve/metrics.h"
#include "agent/serve/rate_limiter.h"
#include "agent/serve/webhooks.h"

namespace nagent::serve {
namespace {

constexpr const char* kJobRoute = "/v1/jobs/([0-9A-Za-z-]{1,64})";

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n", "application/json");
}

json parse_body(const httplib::Request& req) {
  const std::string type = req.get_header_value("Content-Type");
  if (type.find("application/json") == std::string::npos)
    throw ApiError(415, "unsupported_media_type",
                   "Content-Type must be application/json, got '" + (type.empty() ? std::string("none") : type) + "'");
  try {
    return json::parse(req.body);
  } catch (const json::parse_error& e) {
    throw ApiError(400, "invalid_json", std::string("body is not valid JSON: ") + e.what());
  }
}

bool terminal(const std::string& status) { return status != "queued" && status != "running"; }

std::string sse_frame(const StoredEvent& e) {
  json data = {{"seq", e.seq}, {"ts", e.ts}, {"type", e.type}, {"data", e.data}};
  return "id: " + std::to_string(e.seq) + "\nevent: " + e.type +
         "\ndata: " + data.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

}  // namespace

struct Server::State {
  ServeConfig config;
  JobStore store;
  int recovered;  // jobs a previous server left running, settled before any worker starts
  Metrics metrics;
  ChangeSignal changes;
  CallbackSender callbacks;
  JobWorkers workers;
  RateLimiter limiter;
  httplib::Server http;
  std::atomic<bool> stopping{false};
  std::atomic<int> open_streams{0};  // SSE streams hold a connection thread each ...
  int max_streams;                   // ... so they may take all but four of them
  int port = 0;

  explicit State(ServeConfig c)
      : config(std::move(c)),
        store(config.db, SessionStore::durability_from_env()),
        recovered(store.recover_running(config.on_restart == "resume")),
        callbacks(config, store, metrics),
        workers(config, store, changes, metrics, callbacks),
        limiter(config.rate_per_s, config.rate_burst),
        max_streams(std::max(1, config.http_threads - 4)) {}

  // Wraps a handler: counts the request, turns ApiError and every other exception into a
  // JSON error (a client can never make a handler crash the server).
  httplib::Server::Handler route(const std::string& name, bool authenticated,
                                 std::function<void(const httplib::Request&, httplib::Response&)> handler) {
    return [this, name, authenticated, handler](const httplib::Request& req, httplib::Response& res) {
      try {
        if (authenticated) authorize(req, res);
        handler(req, res);
      } catch (const ApiError& e) {
        send_json(res, e.status, e.body());
      } catch (const QueueFull& e) {
        res.set_header("Retry-After", "5");
        send_json(res, 429, ApiError(429, "queue_full", std::string(e.what()) + "; retry later").body());
      } catch (const StoreError& e) {
        res.set_header("Retry-After", "1");
        send_json(res, 503, ApiError(503, "store_unavailable", e.what()).body());
      } catch (const std::exception& e) {
        send_json(res, 500, ApiError(500, "internal", e.what()).body());
      }
      metrics.count_request(name, res.status);
    };
  }

  void authorize(const httplib::Request& req, httplib::Response& res) {
    const std::string header = req.get_header_value("Authorization");
    if (header.empty()) throw ApiError(401, "unauthorized", "missing Authorization: Bearer <NAGENT_API_TOKEN>");
    if (!bearer_valid(config.api_token, header)) throw ApiError(401, "unauthorized", "invalid bearer token");
    if (double wait = limiter.take(config.api_token); wait > 0) {
      res.set_header("Retry-After", std::to_string(int(std::ceil(wait))));
      throw ApiError(429, "rate_limited", "too many requests for this token; retry after the Retry-After seconds");
    }
  }

  Job job_or_404(const httplib::Request& req) {
    const std::string id = req.matches[1];
    std::optional<Job> job = store.job(id);
    if (!job) throw ApiError(404, "job_not_found", "no job '" + id + "'");
    return *job;
  }

  // A job without a patch or report: not finished yet (409), or ended before it ran (404).
  [[noreturn]] static void no_result(const Job& job, const std::string& what) {
    if (!terminal(job.status))
      throw ApiError(409, "job_not_finished", "job " + job.id + " is " + job.status + "; no " + what + " yet");
    throw ApiError(404, "no_" + what,
                   "job " + job.id + " is " + job.status + " and has no " + what + ": " + job.summary);
  }

  void submit(const httplib::Request& req, httplib::Response& res) {
    json spec = validate_job_request(parse_body(req), config);
    if (stopping) throw ApiError(503, "shutting_down", "the server is shutting down; retry later");
    JobStore::Enqueued e = store.enqueue(spec, "api", "", config.max_queue);
    if (!e.created && e.job.spec != spec)
      throw ApiError(409, "idempotency_key_reused",
                     "idempotency_key '" + spec.value("idempotency_key", "") + "' belongs to job " + e.job.id +
                         ", submitted with a different request");
    if (e.created) workers.wake();
    changes.notify();
    send_json(res, e.created ? 202 : 200, {{"id", e.job.id}, {"status", e.job.status}, {"duplicate", !e.created}});
  }

  void list(const httplib::Request& req, httplib::Response& res) {
    const std::string status = req.get_param_value("status");
    static const std::vector<std::string> states = {"", "queued", "running", "succeeded", "failed", "cancelled"};
    if (std::find(states.begin(), states.end(), status) == states.end())
      throw ApiError(400, "invalid_request", "status must be one of queued, running, succeeded, failed, cancelled",
                     {{"status", "unknown status '" + status + "'"}});
    int limit = 50;
    if (req.has_param("limit")) {
      const std::string v = req.get_param_value("limit");
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < 1 || n > 1000)
        throw ApiError(400, "invalid_request", "limit must be an integer from 1 to 1000",
                       {{"limit", "got '" + v + "'"}});
      limit = int(n);
    }
    json jobs = json::array();
    for (const Job& j : store.list(status, limit)) jobs.push_back(j.to_json());
    send_json(res, 200, {{"jobs", jobs}});
  }

  void cancel(const httplib::Request& req, httplib::Response& res) {
    Job job = job_or_404(req);
    if (terminal(job.status)) throw ApiError(409, "job_finished", "job " + job.id + " has ended (" + job.status + ")");
    const bool was_queued = store.cancel_queued(job.id);
    if (was_queued && job.spec.contains("callback_url")) callbacks.schedule(job.id);
    if (was_queued || workers.cancel(job.id)) {
      changes.notify();
      send_json(res, 202, {{"id", job.id}, {"status", "cancelling"}});
      return;
    }
    // Between the two checks it started or ended: report what it is now.
    send_json(res, 409,
              ApiError(409, "job_state_changed", "job " + job.id + " is " + store.job(job.id)->status).body());
  }

  void events(const httplib::Request& req, httplib::Response& res) {
    Job job = job_or_404(req);
    std::string from = req.get_header_value("Last-Event-ID");
    if (from.empty()) from = req.get_param_value("after");
    int64_t after = 0;
    if (!from.empty()) {
      char* end = nullptr;
      after = std::strtoll(from.c_str(), &end, 10);
      if (*end != '\0' || after < 0)
        throw ApiError(400, "invalid_request", "Last-Event-ID must be an event number, got '" + from + "'");
    }
    if (++open_streams > max_streams) {
      --open_streams;
      res.set_header("Retry-After", "5");
      throw ApiError(503, "too_many_streams",
                     "all " + std::to_string(max_streams) + " event streams are in use; retry later");
    }
    res.status = 200;
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    // The provider runs after this handler returns; the releaser frees the stream's slot
    // when the response (and with it the provider) is destroyed, however the stream ends.
    auto slot = std::shared_ptr<void>(nullptr, [this](void*) { --open_streams; });
    res.set_chunked_content_provider("text/event-stream",
                                     [this, id = job.id, after, slot](size_t, httplib::DataSink& sink) mutable {
                                       return stream_events(id, after, sink);
                                     });
  }

  // One turn of an SSE stream: writes the events after `after`, ends the stream at job_end,
  // or waits up to 10 s for a change and sends a keep-alive. False closes the connection
  // (the client went away, or the store failed: this runs outside route()'s error handling).
  bool stream_events(const std::string& id, int64_t& after, httplib::DataSink& sink) {
    try {
      const uint64_t seen = changes.generation();
      for (const StoredEvent& e : store.events(id, after)) {
        const std::string frame = sse_frame(e);
        if (!sink.write(frame.data(), frame.size())) return false;
        after = e.seq;
        if (e.type == "job_end") {
          sink.done();
          return true;
        }
      }
      if (stopping) {
        sink.done();
        return true;
      }
      changes.wait(seen, std::chrono::seconds(10));
      if (changes.generation() != seen) return true;
      static const std::string keep_alive = ": keep-alive\n\n";
      return sink.write(keep_alive.data(), keep_alive.size());
    } catch (const std::exception&) {
      return false;
    }
  }

  // The webhook accept path: verify, map, validate, enqueue durably (deduplicated), answer.
  void accept_webhook(const std::string& source, const std::string& delivery, const WebhookIntent& intent,
                      httplib::Response& res) {
    if (!intent.job_request) {
      metrics.count_webhook(source, "ignored");
      send_json(res, 200, {{"ignored", intent.ignored}});
      return;
    }
    json spec = validate_job_request(*intent.job_request, config);
    JobStore::Enqueued e = store.enqueue(spec, source, source + ":" + delivery, config.max_queue);
    metrics.count_webhook(source, e.created ? "accepted" : "duplicate");
    if (e.created) workers.wake();
    changes.notify();
    send_json(res, e.created ? 202 : 200, {{"id", e.job.id}, {"status", e.job.status}, {"duplicate", !e.created}});
  }

  void github(const httplib::Request& req, httplib::Response& res) {
    if (config.github_secret.empty())
      throw ApiError(403, "webhook_disabled", "GitHub webhooks are off: the server has no NAGENT_GITHUB_SECRET");
    const std::string signature = req.get_header_value("X-Hub-Signature-256");
    if (signature.empty()) reject_webhook("github", "missing X-Hub-Signature-256");
    if (!signature_valid(config.github_secret, req.body, signature))
      reject_webhook("github", "X-Hub-Signature-256 does not match the body");
    const std::string event = req.get_header_value("X-GitHub-Event");
    const std::string delivery = req.get_header_value("X-GitHub-Delivery");
    if (event.empty() || delivery.empty())
      throw ApiError(400, "invalid_request", "missing X-GitHub-Event or X-GitHub-Delivery header");
    if (event == "ping") {
      metrics.count_webhook("github", "ignored");
      send_json(res, 200, {{"ignored", "ping"}});
      return;
    }
    accept_webhook("github", delivery, github_intent(event, parse_body(req), config), res);
  }

  void gitlab(const httplib::Request& req, httplib::Response& res) {
    if (config.gitlab_token.empty())
      throw ApiError(403, "webhook_disabled", "GitLab webhooks are off: the server has no NAGENT_GITLAB_TOKEN");
    const std::string token = req.get_header_value("X-Gitlab-Token");
    if (token.empty()) reject_webhook("gitlab", "missing X-Gitlab-Token");
    if (!constant_time_equal(token, config.gitlab_token)) reject_webhook("gitlab", "X-Gitlab-Token does not match");
    const std::string event = req.get_header_value("X-Gitlab-Event");
    const std::string delivery = req.get_header_value("X-Gitlab-Event-UUID");
    if (event.empty() || delivery.empty())
      throw ApiError(400, "invalid_request", "missing X-Gitlab-Event or X-Gitlab-Event-UUID header");
    accept_webhook("gitlab", delivery, gitlab_intent(event, parse_body(req), config), res);
  }

  [[noreturn]] void reject_webhook(const std::string& source, const std::string& why) {
    metrics.count_webhook(source, "rejected");
    throw ApiError(401, "bad_signature", why);
  }

  ApiError too_large() const {
    return ApiError(413, "payload_too_large",
                    "request body is larger than max_body_bytes (" + std::to_string(config.max_body_bytes) + ")");
  }

  void install_routes() {
    using R = const httplib::Request&;
    using W = httplib::Response&;
    // Before the body is read: a declared length over the limit is refused at once (httplib
    // would first read and discard all of it, holding a connection thread meanwhile).
    http.set_pre_routing_handler([this](R req, W res) {
      const std::string length = req.get_header_value("Content-Length");
      if (length.empty() || std::strtoull(length.c_str(), nullptr, 10) <= config.max_body_bytes)
        return httplib::Server::HandlerResponse::Unhandled;
      res.set_header("Connection", "close");
      send_json(res, 413, too_large().body());
      metrics.count_request("(none)", 413);
      return httplib::Server::HandlerResponse::Handled;
    });
    http.Get("/", route("/", false, [](R, W res) { res.set_content(dashboard_html(), "text/html; charset=utf-8"); }));
    http.Get("/healthz", route("/healthz", false, [this](R, W res) {
               send_json(res, 200, {{"status", "ok"}, {"queue_depth", store.queued()}, {"workers", config.workers}});
             }));
    http.Get("/metrics", route("/metrics", false, [this](R, W res) {
               res.set_content(metrics.prometheus(store.count_by_status(), store.queued()),
                               "text/plain; version=0.0.4");
             }));
    http.Post("/v1/jobs", route("/v1/jobs", true, [this](R req, W res) { submit(req, res); }));
    http.Get("/v1/jobs", route("/v1/jobs", true, [this](R req, W res) { list(req, res); }));
    http.Get(kJobRoute,
             route("/v1/jobs/{id}", true, [this](R req, W res) { send_json(res, 200, job_or_404(req).to_json()); }));
    http.Get(std::string(kJobRoute) + "/events",
             route("/v1/jobs/{id}/events", true, [this](R req, W res) { events(req, res); }));
    http.Get(std::string(kJobRoute) + "/patch", route("/v1/jobs/{id}/patch", true, [this](R req, W res) {
               Job job = job_or_404(req);
               std::optional<std::string> patch = store.patch(job.id);
               if (!patch) no_result(job, "patch");
               res.set_content(*patch, "text/x-diff; charset=utf-8");
             }));
    http.Get(std::string(kJobRoute) + "/report", route("/v1/jobs/{id}/report", true, [this](R req, W res) {
               Job job = job_or_404(req);
               std::optional<json> report = store.report(job.id);
               if (!report) no_result(job, "report");
               send_json(res, 200, *report);
             }));
    http.Post(std::string(kJobRoute) + "/cancel",
              route("/v1/jobs/{id}/cancel", true, [this](R req, W res) { cancel(req, res); }));
    http.Post("/hooks/github", route("/hooks/github", false, [this](R req, W res) { github(req, res); }));
    http.Post("/hooks/gitlab", route("/hooks/gitlab", false, [this](R req, W res) { gitlab(req, res); }));
    // Errors httplib answers itself (no route, body too large, unreadable request) get the
    // same JSON shape as the handlers' errors.
    http.set_error_handler([this](R req, W res) {
      if (!res.body.empty()) return;
      if (res.status == 413) send_json(res, 413, too_large().body());
      else if (res.status == 404)
        send_json(res, 404, ApiError(404, "not_found", "no route " + req.method + " " + req.path).body());
      else send_json(res, res.status, ApiError(res.status, "bad_request", "the request could not be read").body());
      metrics.count_request("(none)", res.status);
    });
  }
};

Server::Server(ServeConfig config) : state_(std::make_unique<State>(std::move(config))) {
  State& s = *state_;
  s.http.new_task_queue = [n = size_t(s.config.http_threads)] { return new httplib::ThreadPool(n); };
  s.http.set_payload_max_length(s.config.max_body_bytes);
  s.http.set_read_timeout(10);
  s.http.set_keep_alive_max_count(1000);  // bots and load balancers reuse connections
  s.http.set_tcp_nodelay(true);           // else Nagle + delayed ACK add ~40 ms to every small reply
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, which lets a second server bind
  // the same port silently and take half the connections.
  s.http.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  s.http.set_write_timeout(10);
  s.install_routes();
}

Server::~Server() { stop(); }

int Server::bind() {
  State& s = *state_;
  if (s.config.port == 0) s.port = s.http.bind_to_any_port(s.config.host);
  else s.port = s.http.bind_to_port(s.config.host, s.config.port) ? s.config.port : -1;
  if (s.port <= 0)
    throw ConfigError("cannot listen on " + s.config.host + ":" + std::to_string(s.config.port) +
                      " (in use, or not an address of this machine)");
  return s.port;
}

bool Server::listen() { return state_->http.listen_after_bind(); }

int Server::recovered_jobs() const { return state_->recovered; }

void Server::stop() {
  state_->stopping = true;
  state_->changes.notify();
  state_->http.stop();
}

}  // namespace nagent::serve
