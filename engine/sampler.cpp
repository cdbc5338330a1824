#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace nagent::engine {

Sampler::Sampler(const SamplerConfig& config) : config_(config), rng_(config.seed) {}

std::vector<float> Sampler::distribution(const float* logits, int64_t n) const {
  std::vector<float> p(static_cast<size_t>(n), 0.0f);
  const int64_t best = std::max_element(logits, logits + n) - logits;
  if (config_.temperature <= 0.0) {
    p[best] = 1.0f;
    return p;
  }
  // Softmax at the temperature, in double for the normalisation.
  const double inv_t = 1.0 / config_.temperature;
  const double mx = logits[best];
  std::vector<double> e(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) e[i] = std::exp((logits[i] - mx) * inv_t);
  // Candidates sorted by probability (ties: lower id first), then the filters cut the tail.
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return e[a] > e[b]; });
  int64_t keep = n;
  if (config_.top_k > 0) keep = std::min<int64_t>(keep, config_.top_k);
  const double total = std::accumulate(e.begin(), e.end(), 0.0);
  if (config_.min_p > 0.0) {
    const double floor = config_.min_p * e[order[0]];
    int64_t m = 0;
    while (m < keep && e[order[m]] >= floor) ++m;
    keep = std::max<int64_t>(1, m);
  }
  if (config_.top_p < 1.0) {
    // Smallest prefix whose mass reaches top_p (of the distribution before the other filters).
    double mass = 0.0;
    int64_t m = 0;
    while (m < keep) {
      mass += e[order[m]] / total;
      ++m;
      if (mass >= config_.top_p) break;
    }
    keep = std::max<int64_t>(1, m);
  }
  double kept = 0.0;
  for (int64_t i = 0; i < keep; ++i) kept += e[order[i]];
  for (int64_t i = 0; i < keep; ++i) p[order[i]] = static_cast<float>(e[order[i]] / kept);
  return p;
}

int32_t Sampler::sample(const float* logits, int64_t n) {
  if (config_.temperature <= 0.0) return static_cast<int32_t>(std::max_element(logits, logits + n) - logits);
  const std::vector<float> p = distribution(logits, n);
  const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  double acc = 0.0;
  int32_t last = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (p[i] <= 0.0f) continue;
    acc += p[i];
    last = static_cast<int32_t>(i);
    if (u < acc) return last;
  }
  return last;  // rounding left u above the total: the last kept token
}

double token_logprob(const float* logits, int64_t n, int32_t token) {
  const double mx = *std::max_element(logits, logits + n);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(double(logits[i]) - mx);
  return double(logits[token]) - mx - std::log(sum);
}

}  // namespace nagent::engine
