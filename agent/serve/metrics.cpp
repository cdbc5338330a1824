#include "agent/serve/metrics.h"

#include <cstdio>

namespace nagent::serve {
namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

void Histogram::observe(double ms) {
  std::lock_guard lock(mutex_);
  size_t i = 0;
  while (i < kBoundsMs.size() && ms > kBoundsMs[i]) ++i;
  ++counts_[i];
  sum_ms_ += ms;
}

void Histogram::write(std::string& out, const std::string& name, const std::string& labels) const {
  std::lock_guard lock(mutex_);
  const std::string sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBoundsMs.size(); ++i) {
    cumulative += counts_[i];
    out += name + "_bucket{" + labels + sep + "le=\"" + number(kBoundsMs[i] / 1000.0) + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  cumulative += counts_.back();
  out += name + "_bucket{" + labels + sep + "le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
  out += name + "_sum" + (labels.empty() ? "" : "{" + labels + "}") + " " + number(sum_ms_ / 1000.0) + "\n";
  out += name + "_count" + (labels.empty() ? "" : "{" + labels + "}") + " " + std::to_string(cumulative) + "\n";
}

void Metrics::count_request(const std::string& route, int status) {
  std::lock_guard lock(mutex_);
  ++requests_[route + "\t" + std::to_string(status)];
}

void Metrics::count_webhook(const std::string& source, const std::string& outcome) {
  std::lock_guard lock(mutex_);
  ++webhooks_[source + "\t" + outcome];
}

void Metrics::count_callback(const std::string& outcome) {
  std::lock_guard lock(mutex_);
  ++callbacks_[outcome];
}

void Metrics::observe_event(const StoredEvent& e) {
  if (e.type == "model_reply") {
    step_ms_.observe(e.data.value("duration_ms", 0.0));
    const json& u = e.data["usage"];
    tokens_ += uint64_t(u.value("prompt_tokens", int64_t(0)) + u.value("completion_tokens", int64_t(0)));
  } else if (e.type == "tool_result") {
    tool_ms_.observe(e.data.value("duration_ms", 0.0));
    if (!e.data.value("ok", true)) ++tool_failures_;
    // 124: the sandbox's timeout; 128 + N: killed by signal N (limits, the OOM killer).
    const int64_t code = e.data.value("exit_code", int64_t(0));
    if (code == 124 || code > 128) ++tool_kills_;
  }
}

std::string Metrics::prometheus(const std::map<std::string, int64_t>& jobs_by_state, int64_t queue_depth) const {
  std::string out;
  header(out, "nagent_serve_queue_depth", "gauge", "Jobs waiting for a worker.");
  out += "nagent_serve_queue_depth " + std::to_string(queue_depth) + "\n";
  header(out, "nagent_serve_jobs", "gauge", "Jobs in the store by state.");
  for (const auto& [state, n] : jobs_by_state)
    out += "nagent_serve_jobs{state=\"" + state + "\"} " + std::to_string(n) + "\n";
  {
    std::lock_guard lock(mutex_);
    auto split = [](const std::string& key) {
      auto tab = key.find('\t');
      return std::make_pair(key.substr(0, tab), key.substr(tab + 1));
    };
    header(out, "nagent_serve_http_requests_total", "counter", "HTTP requests by route and status.");
    for (const auto& [key, n] : requests_) {
      auto [route, status] = split(key);
      out += "nagent_serve_http_requests_total{route=\"" + route + "\",status=\"" + status + "\"} " +
             std::to_string(n) + "\n";
    }
    header(out, "nagent_serve_webhook_deliveries_total", "counter", "Webhook deliveries by source and outcome.");
    for (const auto& [key, n] : webhooks_) {
      auto [source, outcome] = split(key);
      out += "nagent_serve_webhook_deliveries_total{source=\"" + source + "\",outcome=\"" + outcome + "\"} " +
             std::to_string(n) + "\n";
    }
    header(out, "nagent_serve_callbacks_total", "counter", "Callback POSTs by outcome.");
    for (const auto& [outcome, n] : callbacks_)
      out += "nagent_serve_callbacks_total{outcome=\"" + outcome + "\"} " + std::to_string(n) + "\n";
  }
  header(out, "nagent_serve_model_step_seconds", "histogram", "Model request latency per agent step.");
  step_ms_.write(out, "nagent_serve_model_step_seconds", "");
  header(out, "nagent_serve_tool_seconds", "histogram", "Tool call latency.");
  tool_ms_.write(out, "nagent_serve_tool_seconds", "");
  header(out, "nagent_serve_tokens_total", "counter", "Prompt plus completion tokens of all jobs.");
  out += "nagent_serve_tokens_total " + std::to_string(tokens_.load()) + "\n";
  header(out, "nagent_serve_tool_failures_total", "counter", "Tool calls that failed (including sandbox refusals).");
  out += "nagent_serve_tool_failures_total " + std::to_string(tool_failures_.load()) + "\n";
  header(out, "nagent_serve_tool_kills_total", "counter",
         "Tool commands the sandbox stopped: timed out or killed by a signal (limits, OOM).");
  out += "nagent_serve_tool_kills_total " + std::to_string(tool_kills_.load()) + "\n";
  header(out, "nagent_serve_job_runtime_errors_total", "counter",
         "Jobs ended by a runtime error: model server unreachable or sandbox failure.");
  out += "nagent_serve_job_runtime_errors_total " + std::to_string(runtime_errors_.load()) + "\n";
  return out;
}

}  // namespace nagent::serve
