// Retry timing for calls to a model server: exponential backoff with full jitter (spreads
// the retries of many clients hitting one restarted server) and the Retry-After header.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace nagent {

struct RetryPolicy {
  int max_retries = 5;                              // attempts = 1 + max_retries
  std::chrono::milliseconds base_delay{500};        // first backoff ceiling, doubled per retry
  std::chrono::milliseconds max_delay{30'000};      // cap of one backoff
  std::chrono::milliseconds max_retry_after{120'000};  // a longer Retry-After fails at once
};

// Delay before retry number `retry` (0 = the first retry): uniform in
// [0, min(max_delay, base_delay * 2^retry)].
std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int retry);

// Parses a Retry-After value: delta-seconds ("7") or an HTTP-date ("Wed, 21 Oct 2015
// 07:28:00 GMT", relative to now). nullopt when absent or malformed.
std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

}  // namespace nagent
