// Sampler: greedy, seeded determinism, and the top-k / top-p / min-p masks.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <vector>

#include "engine/sampler.h"

using namespace nagent::engine;

namespace {
// Probabilities 0.5, 0.25, 0.125, 0.0625, 0.0625 at temperature 1 (logits = log p), shuffled.
const std::vector<float> kLogits = {std::log(0.0625f), std::log(0.25f), std::log(0.5f), std::log(0.0625f),
                                    std::log(0.125f)};
// ids by probability: 2 (0.5), 1 (0.25), 4 (0.125), 0 and 3 (0.0625 each)

std::vector<int> kept(const SamplerConfig& cfg) {
  std::vector<int> ids;
  const auto p = Sampler(cfg).distribution(kLogits.data(), static_cast<int64_t>(kLogits.size()));
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i] > 0) ids.push_back(static_cast<int>(i));
  return ids;
}
}  // namespace

TEST_CASE("greedy picks the argmax and ignores the seed") {
  SamplerConfig cfg;
  cfg.temperature = 0;
  for (uint64_t seed : {1, 2, 3}) {
    cfg.seed = seed;
    Sampler s(cfg);
    CHECK(s.sample(kLogits.data(), 5) == 2);
  }
}

TEST_CASE("the same seed gives the same tokens, another seed other tokens") {
  SamplerConfig cfg;
  cfg.temperature = 1.0;
  cfg.seed = 42;
  auto draw = [&](uint64_t seed) {
    cfg.seed = seed;
    Sampler s(cfg);
    std::vector<int32_t> out;
    for (int i = 0; i < 64; ++i) out.push_back(s.sample(kLogits.data(), 5));
    return out;
  };
  CHECK(draw(42) == draw(42));
  CHECK(draw(42) != draw(43));
}

TEST_CASE("sampled frequencies follow the distribution") {
  SamplerConfig cfg;
  cfg.temperature = 1.0;
  cfg.seed = 7;
  Sampler s(cfg);
  std::map<int, int> count;
  const int n = 20000;
  for (int i = 0; i < n; ++i) ++count[s.sample(kLogits.data(), 5)];
  CHECK(count[2] / double(n) == Approx(0.5).margin(0.02));
  CHECK(count[1] / double(n) == Approx(0.25).margin(0.02));
  CHECK(count[4] / double(n) == Approx(0.125).margin(0.015));
}

TEST_CASE("top-k keeps the k most likely tokens and renormalises") {
  SamplerConfig cfg;
  cfg.temperature = 1.0;
  cfg.top_k = 2;
  CHECK(kept(cfg) == std::vector<int>{1, 2});
  const auto p = Sampler(cfg).distribution(kLogits.data(), 5);
  CHECK(p[2] == Approx(2.0 / 3));
  CHECK(p[1] == Approx(1.0 / 3));
}

TEST_CASE("top-p keeps the smallest set reaching the mass") {
  SamplerConfig cfg;
  cfg.temperature = 1.0;
  cfg.top_p = 0.5;
  CHECK(kept(cfg) == std::vector<int>{2});
  cfg.top_p = 0.7;
  CHECK(kept(cfg) == std::vector<int>{1, 2});
  cfg.top_p = 0.8;
  CHECK(kept(cfg) == std::vector<int>{1, 2, 4});
}

TEST_CASE("min-p keeps tokens at least min_p times as likely as the best") {
  SamplerConfig cfg;
  cfg.temperature = 1.0;
  cfg.min_p = 0.2;  // floor 0.1
  CHECK(kept(cfg) == std::vector<int>{1, 2, 4});
  cfg.min_p = 0.6;  // floor 0.3
  CHECK(kept(cfg) == std::vector<int>{2});
}

TEST_CASE("temperature sharpens and flattens") {
  SamplerConfig cfg;
  cfg.temperature = 0.5;
  const auto sharp = Sampler(cfg).distribution(kLogits.data(), 5);
  cfg.temperature = 2.0;
  const auto flat = Sampler(cfg).distribution(kLogits.data(), 5);
  // p^(1/T) normalised: at T=0.5 the top token has 0.25/(0.25+0.0625+0.015625+2*0.00390625).
  CHECK(sharp[2] == Approx(0.25 / (0.25 + 0.0625 + 0.015625 + 2 * 0.00390625)));
  CHECK(flat[2] < 0.5);
  CHECK(flat[0] > 0.0625);
}

TEST_CASE("token logprob is log softmax") {
  CHECK(token_logprob(kLogits.data(), 5, 2) == Approx(std::log(0.5)));
  CHECK(token_logprob(kLogits.data(), 5, 0) == Approx(std::log(0.0625)));
}
