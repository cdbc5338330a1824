// Batched decode (NemotronH::decode_batch): n sequences of different lengths and histories, one
// token each through every layer together, against n single-token forward() calls on copies of
// the same states. Every fixture (Mamba-2, GQA attention, ReLU² MLP, MoE with and without latent
// projections and group routing, transformers' dt clamp) in fp32 and bf16. decode_batch keeps
// fp32 activations and every per-row computation of forward(), so the logits and the states
// afterwards are bitwise equal, which is what these tests check.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "engine/nemotronh.h"

using namespace nagent::engine;

namespace {

std::string fixture(const std::string& name) { return std::string(NAGENT_SOURCE_DIR) + "/tests/fixtures/nemotronh/" + name; }

std::vector<int32_t> tokens_of(int n, int seed, int64_t V) {
  std::vector<int32_t> v;
  for (int i = 0; i < n; ++i) v.push_back(static_cast<int32_t>(3 + (seed * 101 + i * 37) % (V - 3)));
  return v;
}

int32_t argmax(const float* v, int64_t n) { return static_cast<int32_t>(std::max_element(v, v + n) - v); }

double rel_err(const float* a, const float* b, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

// n states prefilled separately with prompts of different lengths (length 0: the empty state).
std::vector<ModelState> prefilled(NemotronH& m, const std::vector<int>& lengths) {
  std::vector<ModelState> states;
  for (size_t i = 0; i < lengths.size(); ++i) {
    states.push_back(m.new_state());
    const auto prompt = tokens_of(lengths[i], static_cast<int>(i) + 1, m.config().vocab_size);
    if (!prompt.empty()) m.forward(states.back(), prompt.data(), static_cast<int64_t>(prompt.size()), nullptr, false);
  }
  return states;
}

std::vector<ModelState*> pointers(std::vector<ModelState>& states) {
  std::vector<ModelState*> p;
  for (auto& s : states) p.push_back(&s);
  return p;
}

// One batched step equals n single forward calls (logits and states, bitwise), then 20 greedy
// steps give the same tokens and states.
void check_batch(NemotronH& m, const std::vector<int>& lengths) {
  const int64_t V = m.config().vocab_size, n = static_cast<int64_t>(lengths.size());
  INFO("n = " << n);
  std::vector<ModelState> batched = prefilled(m, lengths), single = batched;
  auto ptrs = pointers(batched);
  std::vector<int32_t> tok(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) tok[i] = static_cast<int32_t>(5 + 13 * i % (V - 5));

  std::vector<float> got(static_cast<size_t>(n * V), NAN), want(static_cast<size_t>(n * V), NAN);
  m.decode_batch(ptrs.data(), tok.data(), n, got.data());
  for (int64_t i = 0; i < n; ++i) m.forward(single[i], &tok[i], 1, &want[i * V], false);
  double worst = 0;
  for (int64_t i = 0; i < n; ++i) worst = std::max(worst, rel_err(&got[i * V], &want[i * V], V));
  INFO("worst row rel err " << worst);
  CHECK(got == want);  // bitwise
  CHECK(batched == single);

  // Greedy decoding, 20 steps: batched and one sequence at a time.
  std::vector<int32_t> next_b(static_cast<size_t>(n)), next_s(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) next_b[i] = next_s[i] = argmax(&want[i * V], V);
  std::vector<std::vector<int32_t>> out_b(static_cast<size_t>(n)), out_s(static_cast<size_t>(n));
  std::vector<float> row(static_cast<size_t>(V));
  for (int step = 0; step < 20; ++step) {
    m.decode_batch(ptrs.data(), next_b.data(), n, got.data());
    for (int64_t i = 0; i < n; ++i) {
      out_b[i].push_back(next_b[i] = argmax(&got[i * V], V));
      m.forward(single[i], &next_s[i], 1, row.data(), false);
      out_s[i].push_back(next_s[i] = argmax(row.data(), V));
    }
  }
  CHECK(out_b == out_s);
  CHECK(batched == single);
  for (int64_t i = 0; i < n; ++i) CHECK(batched[i].position == lengths[i] + 21);
}

void check_fixture(const std::string& name, const EngineOptions& opts = {}) {
  INFO("fixture " << name);
  auto m = NemotronH::load(fixture(name), opts);
  check_batch(*m, {23});
  check_batch(*m, {40, 3, 17});
  // Includes an empty state (length 0) and a one-token history.
  check_batch(*m, {5, 0, 33, 1, 16, 47, 9, 28});
}

}  // namespace

TEST_CASE("decode_batch equals single forward calls on the nano fixtures (Mamba, GQA, MLP, MoE)") {
  check_fixture("nano_fp32");
  check_fixture("nano_bf16");
}

TEST_CASE("decode_batch equals single forward calls on the super fixtures (latent MoE, group routing)") {
  check_fixture("super_fp32");
  check_fixture("super_bf16");
}

TEST_CASE("decode_batch with transformers' dt clamp, which depends on each sequence's position") {
  EngineOptions opts;
  opts.dt_clamp = DtClamp::kTransformers;
  check_fixture("dt_clamp_fp32", opts);
}

TEST_CASE("decode_batch beyond the AMX token threshold and beyond max_batch stays exact") {
  // 20 >= kAmxMinTokens rows of BF16 products: still fp32 activations. max_batch 3 splits the
  // batch into passes of 3, 3, 2 ... sequences.
  std::vector<int> lengths;
  for (int i = 0; i < 20; ++i) lengths.push_back((i * 7) % 31);
  auto m = NemotronH::load(fixture("nano_bf16"));
  check_batch(*m, lengths);
  EngineOptions opts;
  opts.max_batch = 3;
  auto small = NemotronH::load(fixture("super_fp32"), opts);
  check_batch(*small, {4, 0, 12, 30, 2, 19, 8, 1});
}

TEST_CASE("decode_batch of no sequences is a no-op, and a state twice in one batch is refused") {
  auto m = NemotronH::load(fixture("nano_fp32"));
  m->decode_batch(nullptr, nullptr, 0, nullptr);
  std::vector<ModelState> states = prefilled(*m, {6, 2});
  const std::vector<ModelState> before = states;
  auto ptrs = pointers(states);
  const int32_t tok[2] = {7, 9};
  m->decode_batch(ptrs.data(), tok, 0, nullptr);
  CHECK(states == before);

  ModelState* twice[2] = {&states[0], &states[0]};
  std::vector<float> logits(2 * m->config().vocab_size);
  CHECK_THROWS_AS(m->decode_batch(twice, tok, 2, logits.data()), std::invalid_argument);
  const int32_t bad[2] = {7, static_cast<int32_t>(m->config().vocab_size)};
  CHECK_THROWS_AS(m->decode_batch(ptrs.data(), bad, 2, logits.data()), std::out_of_range);
  CHECK(states == before);
}

TEST_CASE("decode_batch mixes a fresh state with a long history") {
  auto m = NemotronH::load(fixture("super_bf16"));
  check_batch(*m, {0, 38});
  check_batch(*m, {0});
}
