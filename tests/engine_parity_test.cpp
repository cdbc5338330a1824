// Parity of the CPU engine with transformers 5.17 on the committed random NemotronH fixtures
// (scripts/engine_reference/make_fixtures.py): prefill logits at every position, logits of
// token-by-token decoding with state, 64 greedy tokens, decode-with-state == re-prefill, and
// prefill split at arbitrary points (chunked SSD resumed from state).
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "engine/nemotronh.h"
#include "engine/safetensors.h"

using namespace nagent::engine;

namespace {

std::string fixture(const std::string& name) { return std::string(NAGENT_SOURCE_DIR) + "/tests/fixtures/nemotronh/" + name; }

struct Reference {
  std::unique_ptr<SafetensorsFile> file;
  std::vector<int32_t> ids(const std::string& name) const {
    const TensorInfo* t = file->find(name);
    REQUIRE(t);
    REQUIRE(t->dtype == DType::I64);
    std::vector<int32_t> out(static_cast<size_t>(t->numel()));
    const auto* p = reinterpret_cast<const int64_t*>(file->data(*t));
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<int32_t>(p[i]);
    return out;
  }
  std::vector<float> floats(const std::string& name) const {
    const TensorInfo* t = file->find(name);
    REQUIRE(t);
    REQUIRE(t->dtype == DType::F32);
    const auto* p = reinterpret_cast<const float*>(file->data(*t));
    return {p, p + t->numel()};
  }
};

Reference reference(const std::string& name) { return {SafetensorsFile::open(fixture(name) + "/reference.safetensors")}; }

double rel_err(const float* a, const float* b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

// Worst per-row relative error of two [rows, V] arrays.
double worst_row_err(const std::vector<float>& a, const std::vector<float>& b, int64_t V) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (size_t r = 0; r * V < a.size(); ++r) worst = std::max(worst, rel_err(&a[r * V], &b[r * V], V));
  return worst;
}

int argmax(const float* v, int64_t n) { return static_cast<int>(std::max_element(v, v + n) - v); }

struct Run {
  std::vector<float> prefill;        // [T, V]
  std::vector<float> decode;         // [S, V]: logits after feeding decode_ids[i]
  std::vector<int32_t> greedy;       // our greedy tokens, S of them
};

// Prefill the prompt, then feed the reference's decode ids one at a time (teacher forcing, so a
// single near-tie cannot derail the comparison), recording our own greedy choice at each step.
Run run(NemotronH& m, const std::vector<int32_t>& prompt, const std::vector<int32_t>& decode_ids) {
  const int64_t V = m.config().vocab_size;
  Run r;
  ModelState s = m.new_state();
  r.prefill.resize(prompt.size() * V);
  m.forward(s, prompt.data(), static_cast<int64_t>(prompt.size()), r.prefill.data(), true);
  r.greedy.push_back(argmax(&r.prefill[(prompt.size() - 1) * V], V));
  r.decode.resize(decode_ids.size() * V);
  for (size_t i = 0; i < decode_ids.size(); ++i) {
    m.forward(s, &decode_ids[i], 1, &r.decode[i * V], false);
    if (i + 1 < decode_ids.size()) r.greedy.push_back(argmax(&r.decode[i * V], V));
  }
  return r;
}

// Our greedy tokens equal the reference's wherever the reference's top-2 margin is clear of
// rounding; a step with a near-tie (margin < tie) is the only place they may differ.
void check_greedy(const Run& r, const std::vector<int32_t>& ref_ids, const std::vector<float>& ref_prefill,
                  const std::vector<float>& ref_decode, int64_t V, float tie) {
  REQUIRE(r.greedy.size() == ref_ids.size());
  int checked = 0;
  for (size_t i = 0; i < ref_ids.size(); ++i) {
    const float* row = i == 0 ? &ref_prefill[ref_prefill.size() - V] : &ref_decode[(i - 1) * V];
    std::vector<float> sorted(row, row + V);
    std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<float>());
    if (sorted[0] - sorted[1] < tie) continue;
    INFO("greedy step " << i);
    CHECK(r.greedy[i] == ref_ids[i]);
    ++checked;
  }
  CHECK(checked >= 60);  // the comparison must actually cover the 64 steps
}

void check_fixture(const std::string& name, double tol, const EngineOptions& opts = {}) {
  INFO("fixture " << name);
  auto m = NemotronH::load(fixture(name), opts);
  const int64_t V = m->config().vocab_size;
  const Reference ref = reference(name);
  const auto prompt = ref.ids("prompt_ids");
  const auto ids = ref.ids("decode_ids");
  REQUIRE(ids.size() == 64);
  const auto ref_prefill = ref.floats("prefill_logits");
  const auto ref_decode = ref.floats("decode_logits");
  const Run r = run(*m, prompt, ids);
  const double prefill_err = worst_row_err(r.prefill, ref_prefill, V);
  const double decode_err = worst_row_err(r.decode, ref_decode, V);
  INFO("prefill worst-position rel err " << prefill_err << ", decode " << decode_err);
  CHECK(prefill_err <= tol);
  CHECK(decode_err <= tol);
  check_greedy(r, ids, ref_prefill, ref_decode, V, 1e-3f);
}

}  // namespace

TEST_CASE("fp32 fixtures match transformers to 1e-4 at every prefill position and decode step") {
  check_fixture("nano_fp32", 1e-4);
  check_fixture("super_fp32", 1e-4);
}

TEST_CASE("bf16 checkpoints, fp32 activations: weights used as stored match transformers' fp32 compute on them") {
  EngineOptions exact;
  exact.bf16_activations = false;
  check_fixture("nano_bf16", 1e-4, exact);
  check_fixture("super_bf16", 1e-4, exact);
}

TEST_CASE("bf16 checkpoints, bf16 activations (AMX prefill where the CPU has it) stay within 2e-2") {
  INFO("AMX on this CPU: " << matmul_has_amx());
  // The dense fixture only: with routed experts, rounding flips expert choices and the result
  // moves as far as transformers' own bf16 run does (checked against it in the next test).
  check_fixture("nano_bf16", 2e-2);
}

TEST_CASE("bf16 checkpoints against transformers computing in bf16") {
  for (const char* name : {"nano_bf16", "super_bf16"}) {
    INFO("fixture " << name);
    auto m = NemotronH::load(fixture(name));
    const int64_t V = m->config().vocab_size;
    const Reference ref = reference(name);
    const auto prompt = ref.ids("prompt_ids");
    ModelState s = m->new_state();
    std::vector<float> ours(prompt.size() * V);
    m->forward(s, prompt.data(), static_cast<int64_t>(prompt.size()), ours.data(), true);
    const auto native = ref.floats("prefill_logits_native");
    const auto fp32 = ref.floats("prefill_logits");
    const double ours_err = rel_err(ours.data(), native.data(), native.size());
    // transformers' bf16 arithmetic itself departs from its fp32 result by this much (1e-2 for
    // the dense model, 1e-1 with routed experts, where bf16 rounding flips expert choices).
    const double hf_spread = rel_err(fp32.data(), native.data(), native.size());
    INFO("ours vs bf16-native " << ours_err << ", transformers fp32 vs bf16-native " << hf_spread);
    CHECK(ours_err <= std::max(2e-2, 1.05 * hf_spread));
  }
}

TEST_CASE("decode with state equals re-prefill of the whole sequence") {
  for (const char* name : {"nano_fp32", "super_fp32"}) {
    INFO("fixture " << name);
    auto m = NemotronH::load(fixture(name));
    const int64_t V = m->config().vocab_size;
    const Reference ref = reference(name);
    auto seq = ref.ids("prompt_ids");
    const auto ids = ref.ids("decode_ids");
    const size_t T = seq.size();
    const Run r = run(*m, seq, ids);
    seq.insert(seq.end(), ids.begin(), ids.end());
    ModelState s = m->new_state();
    std::vector<float> full(seq.size() * V);
    m->forward(s, seq.data(), static_cast<int64_t>(seq.size()), full.data(), true);
    const std::vector<float> tail(full.begin() + T * V, full.end());
    CHECK(worst_row_err(tail, r.decode, V) <= 1e-5);
  }
}

TEST_CASE("prefill resumed from state at any split point equals one prefill (chunked SSD across calls)") {
  auto m = NemotronH::load(fixture("nano_fp32"));
  const int64_t V = m->config().vocab_size;
  REQUIRE(m->config().chunk_size == 16);
  const auto prompt = reference("nano_fp32").ids("prompt_ids");
  const int64_t T = static_cast<int64_t>(prompt.size());
  REQUIRE(T > 2 * m->config().chunk_size);
  ModelState whole = m->new_state();
  std::vector<float> expect(T * V);
  m->forward(whole, prompt.data(), T, expect.data(), true);
  for (int64_t split : {1, 7, 16, 17, 31}) {
    INFO("split at " << split);
    ModelState s = m->new_state();
    std::vector<float> got(T * V);
    m->forward(s, prompt.data(), split, got.data(), true);
    m->forward(s, prompt.data() + split, T - split, got.data() + split * V, true);
    CHECK(worst_row_err(got, expect, V) <= 1e-5);
    CHECK(s.position == T);
  }
}

TEST_CASE("dt clamp: time_step_limit by default, transformers' time_step_min clamp on request") {
  // The fixture sets time_step_min = 0.3, above most dt values. transformers 5.17 clamps dt at
  // time_step_min when it prefills but not in its cached decode step, so its decode disagrees
  // with its own re-prefill (rel err 0.21 in make_fixtures.log). NVIDIA's kernels and vLLM clamp
  // to time_step_limit, (0, inf) here, everywhere.
  const Reference ref = reference("dt_clamp_fp32");
  const auto prompt = ref.ids("prompt_ids");
  const auto ids = ref.ids("decode_ids");
  const auto ref_prefill = ref.floats("prefill_logits");
  const auto ref_decode = ref.floats("decode_logits");

  EngineOptions hf;
  hf.dt_clamp = DtClamp::kTransformers;
  auto clamped = NemotronH::load(fixture("dt_clamp_fp32"), hf);
  const int64_t V = clamped->config().vocab_size;
  const Run rc = run(*clamped, prompt, ids);
  CHECK(worst_row_err(rc.prefill, ref_prefill, V) <= 1e-4);
  CHECK(worst_row_err(rc.decode, ref_decode, V) <= 1e-4);

  // The default departs from transformers' clamped prefill...
  auto plain = NemotronH::load(fixture("dt_clamp_fp32"));
  const Run rp = run(*plain, prompt, ids);
  CHECK(worst_row_err(rp.prefill, ref_prefill, V) > 1e-2);
  // ...and stays consistent: decoding with state equals re-prefilling.
  auto seq = prompt;
  seq.insert(seq.end(), ids.begin(), ids.end());
  ModelState s = plain->new_state();
  std::vector<float> full(seq.size() * V);
  plain->forward(s, seq.data(), static_cast<int64_t>(seq.size()), full.data(), true);
  const std::vector<float> tail(full.begin() + prompt.size() * V, full.end());
  CHECK(worst_row_err(tail, rp.decode, V) <= 1e-5);
}
