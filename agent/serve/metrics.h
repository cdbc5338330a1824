// Metrics of nagent serve in the Prometheus text exposition format (GET /metrics): HTTP
// requests, webhook deliveries, callbacks, model step and tool latencies, tokens, tool and
// runtime (model server / sandbox) failures; the job gauges are read from the store when
// scraped, so they are right after a restart too.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "agent/session_store.h"

namespace nagent::serve {

// Cumulative histogram with fixed bucket bounds (milliseconds).
class Histogram {
 public:
  static constexpr std::array<double, 12> kBoundsMs = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000};
  void observe(double ms);
  void write(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  mutable std::mutex mutex_;
  std::array<uint64_t, kBoundsMs.size() + 1> counts_{};
  double sum_ms_ = 0;
};

class Metrics {
 public:
  void count_request(const std::string& route, int status);
  void count_webhook(const std::string& source, const std::string& outcome);  // accepted|duplicate|ignored|rejected
  void count_callback(const std::string& outcome);                            // delivered|retried|failed
  void count_job_runtime_error() { runtime_errors_++; }
  // A job's event as it is committed: model steps, tool calls, tokens.
  void observe_event(const StoredEvent& event);

  // The whole exposition; jobs_by_state and queue_depth come from the store.
  std::string prometheus(const std::map<std::string, int64_t>& jobs_by_state, int64_t queue_depth) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, uint64_t> requests_;   // "route\tstatus" -> count
  std::map<std::string, uint64_t> webhooks_;   // "source\toutcome"
  std::map<std::string, uint64_t> callbacks_;  // outcome
  Histogram step_ms_, tool_ms_;
  std::atomic<uint64_t> tokens_{0}, tool_failures_{0}, tool_kills_{0}, runtime_errors_{0};
};

}  // namespace nagent::serve
