// Token sampling from a logits row: greedy, or temperature with top-k / top-p / min-p filters,
// from a seeded generator (same seed, same logits -> same tokens).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace nagent::engine {

struct SamplerConfig {
  double temperature = 0.0;  // <= 0: greedy
  int top_k = 0;             // 0: off
  double top_p = 1.0;        // 1: off
  double min_p = 0.0;        // 0: off (keep tokens with p >= min_p * p_max)
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplerConfig& config);
  // Picks a token from logits[0, n).
  int32_t sample(const float* logits, int64_t n);
  // The probabilities sampling draws from (after temperature and filters; zero for filtered
  // tokens, sums to 1). Greedy: one-hot on the argmax.
  std::vector<float> distribution(const float* logits, int64_t n) const;

 private:
  SamplerConfig config_;
  std::mt19937_64 rng_;
};

// log softmax(logits)[token], computed stably (for per-token logprobs; temperature 1).
double token_logprob(const float* logits, int64_t n, int32_t token);

}  // namespace nagent::engine
