// CallbackSender: POSTs a finished job's result to its callback_url, signed like GitHub's
// webhooks (X-Nagent-Signature-256: sha256=HMAC-SHA256(NAGENT_CALLBACK_SECRET, body)),
// retried with exponential backoff on connection errors, 408, 429 and 5xx. The pending
// state is in the job store, so callbacks not yet delivered are sent after a restart.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "agent/serve/job_store.h"
#include "agent/serve/metrics.h"
#include "agent/serve/serve_config.h"

namespace nagent::serve {

class CallbackSender {
 public:
  CallbackSender(const ServeConfig& config, JobStore& store, Metrics& metrics);
  ~CallbackSender();  // stops; undelivered callbacks stay pending in the store
  // Queues the callback of a finished job (its callback_state is "pending").
  void schedule(const std::string& job_id);

 private:
  using Clock = std::chrono::steady_clock;
  struct Attempt {
    std::string job_id;
    int number;
  };
  const ServeConfig& config_;
  JobStore& store_;
  Metrics& metrics_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::multimap<Clock::time_point, Attempt> due_;
  bool stopping_ = false;
  std::thread thread_;
  void loop();
  // True when this attempt ended the callback (delivered, or failed for good).
  bool attempt(const Attempt& a);
};

}  // namespace nagent::serve
