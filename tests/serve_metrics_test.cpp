// nagent serve's Prometheus exposition from job events: cumulative histograms, counters,
// and the job gauges passed in from the store.
#include <catch2/catch.hpp>

#include "agent/serve/metrics.h"

using namespace nagent;
using namespace nagent::serve;

namespace {

bool has_line(const std::string& text, const std::string& line) { return text.find("\n" + line + "\n") != std::string::npos; }

}  // namespace

TEST_CASE("metrics: model steps and tool calls become histograms and counters", "[serve][metrics]") {
  Metrics m;
  m.observe_event({1, 0, "model_reply", {{"duration_ms", 7.0}, {"usage", {{"prompt_tokens", 100}, {"completion_tokens", 20}}}}});
  m.observe_event({2, 0, "model_reply", {{"duration_ms", 3000.0}, {"usage", {{"prompt_tokens", 50}, {"completion_tokens", 5}}}}});
  m.observe_event({3, 0, "tool_result", {{"duration_ms", 1.0}, {"ok", true}, {"exit_code", 0}}});
  m.observe_event({4, 0, "tool_result", {{"duration_ms", 120000.0}, {"ok", false}, {"exit_code", 124}}});
  m.observe_event({5, 0, "tool_result", {{"duration_ms", 40.0}, {"ok", false}, {"exit_code", 137}}});
  m.observe_event({6, 0, "tool_result", {{"duration_ms", 2.0}, {"ok", false}, {"exit_code", 1}}});
  m.observe_event({7, 0, "log", {{"text", "ignored"}}});
  m.count_request("/v1/jobs", 202);
  m.count_request("/v1/jobs", 202);
  m.count_webhook("github", "duplicate");
  m.count_callback("retried");
  m.count_job_runtime_error();
  const std::string text = "\n" + m.prometheus({{"queued", 3}, {"running", 1}}, 3);

  CHECK(has_line(text, "nagent_serve_queue_depth 3"));
  CHECK(has_line(text, "nagent_serve_jobs{state=\"queued\"} 3"));
  CHECK(has_line(text, "nagent_serve_jobs{state=\"running\"} 1"));
  CHECK(has_line(text, "nagent_serve_http_requests_total{route=\"/v1/jobs\",status=\"202\"} 2"));
  CHECK(has_line(text, "nagent_serve_webhook_deliveries_total{source=\"github\",outcome=\"duplicate\"} 1"));
  CHECK(has_line(text, "nagent_serve_callbacks_total{outcome=\"retried\"} 1"));
  // Cumulative buckets in seconds: 7 ms is in le=0.01 and above, 3 s in le=5 and above.
  CHECK(has_line(text, "nagent_serve_model_step_seconds_bucket{le=\"0.005\"} 0"));
  CHECK(has_line(text, "nagent_serve_model_step_seconds_bucket{le=\"0.01\"} 1"));
  CHECK(has_line(text, "nagent_serve_model_step_seconds_bucket{le=\"2.5\"} 1"));
  CHECK(has_line(text, "nagent_serve_model_step_seconds_bucket{le=\"5\"} 2"));
  CHECK(has_line(text, "nagent_serve_model_step_seconds_bucket{le=\"+Inf\"} 2"));
  CHECK(has_line(text, "nagent_serve_model_step_seconds_sum 3.007"));
  CHECK(has_line(text, "nagent_serve_model_step_seconds_count 2"));
  CHECK(has_line(text, "nagent_serve_tool_seconds_bucket{le=\"30\"} 3"));  // 120 s is beyond the last bound
  CHECK(has_line(text, "nagent_serve_tool_seconds_bucket{le=\"+Inf\"} 4"));
  CHECK(has_line(text, "nagent_serve_tokens_total 175"));
  CHECK(has_line(text, "nagent_serve_tool_failures_total 3"));
  CHECK(has_line(text, "nagent_serve_tool_kills_total 2"));
  CHECK(has_line(text, "nagent_serve_job_runtime_errors_total 1"));
  CHECK(text.find("# TYPE nagent_serve_tool_seconds histogram") != std::string::npos);
}
