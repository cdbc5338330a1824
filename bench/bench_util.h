// Small helpers shared by the benchmark programs: timing and percentiles.
#pragma once

#include <algorithm>
#include <chrono>
#include <vector>

namespace bench {

inline double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The q-quantile (0..1) of the samples (sorted in place).
inline double quantile(std::vector<double>& samples, double q) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  size_t i = std::min(samples.size() - 1, size_t(q * double(samples.size() - 1) + 0.5));
  return samples[i];
}

}  // namespace bench
