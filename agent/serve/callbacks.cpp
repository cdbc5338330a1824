#include "agent/serve/callbacks.h"

#include <httplib.h>

#include <cmath>
#include <regex>

#include "agent/serve/auth.h"

namespace nagent::serve {

CallbackSender::CallbackSender(const ServeConfig& config, JobStore& store, Metrics& metrics)
    : config_(config), store_(store), metrics_(metrics) {
  for (const Job& job : store_.pending_callbacks()) due_.emplace(Clock::now(), Attempt{job.id, 1});
  thread_ = std::thread([this] { loop(); });
}

CallbackSender::~CallbackSender() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void CallbackSender::schedule(const std::string& job_id) {
  {
    std::lock_guard lock(mutex_);
    due_.emplace(Clock::now(), Attempt{job_id, 1});
  }
  cv_.notify_all();
}

void CallbackSender::loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (due_.empty()) {
      cv_.wait(lock);
      continue;
    }
    auto next = due_.begin();
    if (next->first > Clock::now()) {
      cv_.wait_until(lock, next->first);
      continue;
    }
    Attempt a = next->second;
    due_.erase(next);
    lock.unlock();
    bool done = attempt(a);
    lock.lock();
    if (!done) {
      auto delay = std::chrono::duration<double>(config_.callback_backoff_s * std::pow(2.0, a.number - 1));
      due_.emplace(Clock::now() + std::chrono::duration_cast<Clock::duration>(delay), Attempt{a.job_id, a.number + 1});
    }
  }
}

bool CallbackSender::attempt(const Attempt& a) {
  std::optional<Job> job = store_.job(a.job_id);
  if (!job || job->callback_state != "pending") return true;
  const std::string url = job->spec.value("callback_url", "");
  static const std::regex shape(R"((https?://[^/]+)(/.*)?)");  // https: verified against the system CAs
  std::smatch m;
  if (!std::regex_match(url, m, shape)) {
    store_.set_callback_state(a.job_id, "failed");
    return true;
  }
  json payload = {{"job", job->to_json()},
                  {"report", store_.report(a.job_id).value_or(json(nullptr))},
                  {"patch", store_.patch(a.job_id).value_or("")}};
  const std::string body = payload.dump(-1, ' ', false, json::error_handler_t::replace);
  httplib::Client client(m[1].str());
  client.set_connection_timeout(5);
  client.set_read_timeout(10);
  httplib::Headers headers = {{"X-Nagent-Signature-256", signature_header(config_.callback_secret, body)},
                              {"X-Nagent-Job", a.job_id},
                              {"X-Nagent-Attempt", std::to_string(a.number)}};
  auto res = client.Post(m[2].matched ? m[2].str() : std::string("/"), headers, body, "application/json");
  const int status = res ? res->status : 0;
  const bool delivered = status >= 200 && status < 300;
  const bool retryable = status == 0 || status == 408 || status == 429 || status >= 500;
  const bool last = a.number >= config_.callback_attempts;
  json event = {{"attempt", a.number}, {"url", url}};
  if (status) event["status"] = status;
  else event["error"] = httplib::to_string(res.error());
  store_.append_event(a.job_id, "callback", event);
  if (delivered) {
    store_.set_callback_state(a.job_id, "delivered");
    metrics_.count_callback("delivered");
    return true;
  }
  if (!retryable || last) {
    store_.set_callback_state(a.job_id, "failed");
    metrics_.count_callback("failed");
    return true;
  }
  metrics_.count_callback("retried");
  return false;
}

}  // namespace nagent::serve
