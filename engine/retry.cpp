#include "engine/retry.h"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <random>
#include <string>

namespace nagent {

std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int retry) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const int64_t base = std::max<int64_t>(0, policy.base_delay.count());
  const int64_t cap = std::max<int64_t>(0, policy.max_delay.count());
  // Shift with a bound: 2^retry overflows long before the cap matters.
  const int64_t ceiling = retry >= 30 ? cap : std::min(cap, base << std::max(0, retry));
  std::uniform_int_distribution<int64_t> pick(0, ceiling);
  return std::chrono::milliseconds(pick(rng));
}

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;

  if (value.find_first_not_of("0123456789") == std::string_view::npos) {
    int64_t seconds = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc() || end != value.data() + value.size()) return std::nullopt;
    return std::chrono::milliseconds(std::min<int64_t>(seconds, INT64_MAX / 1000) * 1000);
  }

  std::tm tm{};
  const std::string text(value);
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  const auto when = std::chrono::system_clock::from_time_t(timegm(&tm));
  const auto delta = std::chrono::duration_cast<std::chrono::milliseconds>(when - now);
  return std::max(delta, std::chrono::milliseconds(0));
}

}  // namespace nagent
