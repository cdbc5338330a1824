// RateLimiter: a token bucket per client key (the API token), refilled at rate_per_s up to
// burst. A request that finds its bucket empty is told how long to wait.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>

namespace nagent::serve {

class RateLimiter {
 public:
  RateLimiter(double rate_per_s, double burst) : rate_(rate_per_s), burst_(burst) {}
  // 0 when the request may go on; otherwise the seconds until a token is available.
  double take(const std::string& key) {
    using Clock = std::chrono::steady_clock;
    std::lock_guard lock(mutex_);
    const auto now = Clock::now();
    auto [it, fresh] = buckets_.try_emplace(key, Bucket{burst_, now});
    Bucket& b = it->second;
    b.tokens = std::min(burst_, b.tokens + rate_ * std::chrono::duration<double>(now - b.at).count());
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return (1 - b.tokens) / rate_;
  }

 private:
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point at;
  };
  double rate_, burst_;
  std::mutex mutex_;
  std::map<std::string, Bucket> buckets_;
};

}  // namespace nagent::serve
