// Multi-GPU partitioning math on the CPU (engine/partition.h): plans and their errors, shards
// that cover every parameter exactly once (or replicated by design), sharded prefill and decode
// equal to the unsharded NemotronH (W = 2 and 4, reassociated sums: within 1e-5), and W = 1
// bitwise equal to it (the no-op).
#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "engine/partition.h"
#include "engine/safetensors.h"
#include "engine/shard_state.h"

using namespace nagent::engine;

namespace {

std::string fixture(const std::string& name) { return std::string(NAGENT_SOURCE_DIR) + "/tests/fixtures/nemotronh/" + name; }

struct Prompt {
  std::vector<int32_t> prompt, decode;
};

// The fixture's reference prompt (40 tokens: three Mamba chunks) and its first decode ids.
Prompt prompt_of(const std::string& name, size_t decode_steps) {
  auto f = SafetensorsFile::open(fixture(name) + "/reference.safetensors");
  auto ids = [&](const char* key) {
    const TensorInfo* t = f->find(key);
    REQUIRE(t);
    const auto* p = reinterpret_cast<const int64_t*>(f->data(*t));
    return std::vector<int32_t>(p, p + t->numel());
  };
  Prompt p{ids("prompt_ids"), ids("decode_ids")};
  p.decode.resize(decode_steps);
  return p;
}

// Prefill logits at every position, then the logits of each decode step.
std::vector<float> run(LanguageModel& m, const Prompt& p) {
  const int64_t V = m.config().vocab_size;
  std::vector<float> out((p.prompt.size() + p.decode.size()) * V);
  ModelState s = m.new_state();
  m.forward(s, p.prompt.data(), static_cast<int64_t>(p.prompt.size()), out.data(), true);
  for (size_t i = 0; i < p.decode.size(); ++i)
    m.forward(s, &p.decode[i], 1, &out[(p.prompt.size() + i) * V], false);
  return out;
}

// Worst per-row relative (L2) error.
double worst_row_err(const std::vector<float>& a, const std::vector<float>& b, int64_t V) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (size_t r = 0; r * V < a.size(); ++r) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < V; ++i) {
      const double d = double(a[r * V + i]) - b[r * V + i];
      num += d * d;
      den += double(b[r * V + i]) * b[r * V + i];
    }
    worst = std::max(worst, std::sqrt(num / den));
  }
  return worst;
}

EngineOptions exact_options() {
  EngineOptions o;
  o.threads = 1;
  o.bf16_activations = false;  // fp32 activations: sharded and unsharded do the same arithmetic
  return o;
}

ModelConfig config_of(const std::string& path) { return load_model_config(path); }

std::string plan_error(const ModelConfig& c, int world) {
  try {
    plan_partition(c, world, 0);
  } catch (const PartitionError& e) {
    return e.what();
  }
  return "";
}

// Every parameter of a model as (name, fp32 values), matrices included (they must be F32 here).
using Visit = std::function<void(const std::string&, const float*, int64_t)>;
void visit_mlp(const MlpWeights& w, const std::string& p, const Visit& f) {
  auto m = [&](const std::string& n, const Matrix& x) {
    if (x.rows * x.cols > 0) f(p + n, static_cast<const float*>(x.data), x.rows * x.cols);
  };
  m("up", w.up);
  m("down", w.down);
  f(p + "up_bias", w.up_bias.data(), static_cast<int64_t>(w.up_bias.size()));
  f(p + "down_bias", w.down_bias.data(), static_cast<int64_t>(w.down_bias.size()));
}
void visit(const ModelWeights& w, const Visit& f) {
  auto m = [&](const std::string& n, const Matrix& x) {
    REQUIRE(x.dtype == DType::F32);
    if (x.rows * x.cols > 0) f(n, static_cast<const float*>(x.data), x.rows * x.cols);
  };
  auto v = [&](const std::string& n, const std::vector<float>& x) { f(n, x.data(), static_cast<int64_t>(x.size())); };
  m("embeddings", w.embeddings);
  if (w.lm_head.data != w.embeddings.data) m("lm_head", w.lm_head);
  v("norm_f", w.norm_f);
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const LayerWeights& lw = w.layers[l];
    const std::string p = std::to_string(l) + ".";
    v(p + "norm", lw.norm);
    switch (lw.type) {
      case LayerType::kMamba: {
        const MambaWeights& x = lw.mamba;
        m(p + "in_proj", x.in_proj);
        m(p + "out_proj", x.out_proj);
        v(p + "in_proj_bias", x.in_proj_bias);
        v(p + "out_proj_bias", x.out_proj_bias);
        v(p + "conv_w", x.conv_w);
        v(p + "conv_b", x.conv_b);
        v(p + "A", x.A);
        v(p + "dt_bias", x.dt_bias);
        v(p + "D", x.D);
        v(p + "gated_norm", x.norm);
        break;
      }
      case LayerType::kAttention: {
        const AttentionWeights& x = lw.attention;
        m(p + "q", x.q), m(p + "k", x.k), m(p + "v", x.v), m(p + "o", x.o);
        v(p + "q_bias", x.q_bias), v(p + "k_bias", x.k_bias), v(p + "v_bias", x.v_bias), v(p + "o_bias", x.o_bias);
        break;
      }
      case LayerType::kMlp: visit_mlp(lw.mlp, p + "mlp.", f); break;
      case LayerType::kMoe: {
        const MoeWeights& x = lw.moe;
        v(p + "router", x.router);
        v(p + "correction_bias", x.correction_bias);
        for (size_t e = 0; e < x.experts.size(); ++e) visit_mlp(x.experts[e], p + "expert" + std::to_string(e) + ".", f);
        if (x.has_shared) visit_mlp(x.shared, p + "shared.", f);
        if (x.latent) m(p + "fc1_latent", x.fc1_latent), m(p + "fc2_latent", x.fc2_latent);
        v(p + "fc1_bias", x.fc1_bias), v(p + "fc2_bias", x.fc2_bias);
        break;
      }
    }
  }
}

// A copy of `w` whose every parameter element holds its own index (as F32, exact below 2^24),
// so a shard's values say which elements it holds.
ModelWeights numbered(const ModelWeights& w, int64_t& total) {
  auto store = std::make_shared<std::deque<std::vector<float>>>();
  float next = 0;
  auto mat = [&](Matrix& x) {
    if (!x.rows) return;
    std::vector<float>& b = store->emplace_back(static_cast<size_t>(x.rows * x.cols));
    for (float& e : b) e = next++;
    x = Matrix{b.data(), DType::F32, x.rows, x.cols};
  };
  auto vec = [&](std::vector<float>& x) {
    for (float& e : x) e = next++;
  };
  auto mlp = [&](MlpWeights& m) { mat(m.up), mat(m.down), vec(m.up_bias), vec(m.down_bias); };
  ModelWeights n = w;
  mat(n.embeddings);
  if (w.lm_head.data == w.embeddings.data) n.lm_head = n.embeddings;
  else mat(n.lm_head);
  vec(n.norm_f);
  for (LayerWeights& l : n.layers) {
    vec(l.norm);
    MambaWeights& a = l.mamba;
    mat(a.in_proj), mat(a.out_proj), vec(a.in_proj_bias), vec(a.out_proj_bias), vec(a.conv_w), vec(a.conv_b);
    vec(a.A), vec(a.dt_bias), vec(a.D), vec(a.norm);
    AttentionWeights& t = l.attention;
    mat(t.q), mat(t.k), mat(t.v), mat(t.o), vec(t.q_bias), vec(t.k_bias), vec(t.v_bias), vec(t.o_bias);
    mlp(l.mlp);
    MoeWeights& e = l.moe;
    vec(e.router), vec(e.correction_bias);
    for (MlpWeights& x : e.experts) mlp(x);
    mlp(e.shared);
    mat(e.fc1_latent), mat(e.fc2_latent), vec(e.fc1_bias), vec(e.fc2_bias);
  }
  total = static_cast<int64_t>(next);
  REQUIRE(total < (1 << 24));
  n.storage = store;
  return n;
}

bool replicated_by_design(const std::string& name) {
  for (const char* r : {"embeddings", "lm_head", "norm_f", "norm", "router", "correction_bias", "fc1_latent",
                        "fc2_latent", "fc1_bias"})
    if (name == r || (name.size() > std::strlen(r) && name.compare(name.size() - std::strlen(r), std::string::npos, r) == 0 &&
                      name[name.size() - std::strlen(r) - 1] == '.'))
      return true;
  return false;
}
bool kv_tensor(const std::string& name) {
  for (const char* r : {".k", ".v", ".k_bias", ".v_bias"})
    if (name.size() > std::strlen(r) && name.compare(name.size() - std::strlen(r), std::string::npos, r) == 0) return true;
  return false;
}

}  // namespace

TEST_CASE("partition plans split heads with their groups, columns and experts") {
  const ModelConfig nano = load_model_weights(fixture("nano_fp32")).config;  // M*-ME: 4q/2kv, 8 Mamba heads in 2 groups
  PartitionPlan p = plan_partition(nano, 2, 1);
  CHECK(p.q_heads == Span{2, 4});
  CHECK(p.kv_heads == Span{1, 2});
  CHECK(p.kv_replicas == 1);
  CHECK(p.mamba_groups == Span{1, 2});
  CHECK(p.mamba_heads == Span{4, 8});
  CHECK(p.mlp_cols == Span{48, 96});
  CHECK(p.experts == Span{3, 6});
  CHECK(p.shared_cols == Span{24, 48});

  const ModelConfig super = load_model_weights(fixture("super_fp32")).config;  // 4 groups, 8 experts
  p = plan_partition(super, 4, 3);
  CHECK(p.q_heads == Span{3, 4});
  CHECK(p.kv_heads == Span{1, 2});  // 2 KV heads over 4 ranks: each replicated twice
  CHECK(p.kv_replicas == 2);
  CHECK(p.mamba_groups == Span{3, 4});
  CHECK(p.mamba_heads == Span{6, 8});
  CHECK(p.experts == Span{6, 8});

  // The real Nano 30B-A3B shape on a node of 1, 2, 4 or 8 GPUs: 32q/2kv heads, 64 Mamba heads
  // in 8 groups, 128 experts, shared width 3712.
  const ModelConfig real = config_of(fixture("configs/nemotron3_nano_30b_a3b.json"));
  for (int W : {1, 2, 4, 8}) {
    INFO("W = " << W);
    int64_t experts = 0, shared = 0, q = 0;
    for (int r = 0; r < W; ++r) {
      p = plan_partition(real, W, r);
      experts += p.experts.size();
      shared += p.shared_cols.size();
      q += p.q_heads.size();
      CHECK(p.kv_heads.size() == std::max(1, 2 / W));
      CHECK(p.kv_heads.begin == p.q_heads.begin / 16);
      CHECK(p.mamba_heads.size() == 64 / W);
    }
    CHECK(experts == 128);
    CHECK(shared == 3712);
    CHECK(q == 32);
    CHECK(plan_partition(real, W, 0).kv_replicas == std::max(1, W / 2));
  }
  // W = 1 is the identity.
  p = plan_partition(real, 1, 0);
  CHECK(p.q_heads == Span{0, 32});
  CHECK(p.kv_heads == Span{0, 2});
  CHECK(p.mamba_groups == Span{0, 8});
  CHECK(p.experts == Span{0, 128});
  CHECK(p.mlp_cols == Span{0, real.intermediate_size});
}

TEST_CASE("partition plans reject impossible world sizes, naming the dimension and the numbers") {
  const ModelConfig real = config_of(fixture("configs/nemotron3_nano_30b_a3b.json"));
  CHECK(plan_error(real, 3) == "attention: num_attention_heads 32 is not divisible by world size 3");
  CHECK(plan_error(real, 16) == "mamba: n_groups 8 is not divisible by world size 16 (a B/C group stays whole on one "
                                "rank with its heads)");
  const ModelConfig nano = load_model_weights(fixture("nano_fp32")).config;
  CHECK(plan_error(nano, 4) == "mamba: n_groups 2 is not divisible by world size 4 (a B/C group stays whole on one "
                               "rank with its heads)");
  ModelConfig kv = real;
  kv.num_attention_heads = 36;
  kv.num_key_value_heads = 12;
  kv.n_groups = 72;
  kv.mamba_num_heads = 72;
  CHECK(plan_error(kv, 9) == "attention: num_key_value_heads 12 is neither divisible by world size 9 nor a divisor of "
                             "it (KV heads are split whole or replicated)");
  CHECK(plan_error(kv, 6) == "");  // 12 KV heads over 6 ranks: two each
  CHECK(plan_error(real, 0) == "world size must be at least 1, got 0");
  CHECK_THROWS_WITH(plan_partition(real, 2, 2), "rank 2 is outside world size 2");
  // Only the dimensions of layer types the model has are checked: no Mamba layer, no group rule.
  ModelConfig no_mamba = real;
  no_mamba.layers = {LayerType::kAttention, LayerType::kMoe};
  CHECK(plan_error(no_mamba, 16) == "");
  ModelConfig small_mlp = nano;
  small_mlp.intermediate_size = 1;
  CHECK(plan_error(small_mlp, 2) == "mlp: intermediate_size 1 is smaller than world size 2");
}

TEST_CASE("shards cover every parameter exactly once, or once per rank where replicated by design") {
  for (const char* name : {"nano_fp32", "super_fp32"}) {
    const ModelWeights loaded = load_model_weights(fixture(name));
    int64_t total = 0;
    const ModelWeights full = numbered(loaded, total);
    for (int W : {1, 2, 4}) {
      if (W == 4 && full.config.n_groups % 4) continue;
      INFO(name << " W = " << W);
      std::vector<int> count(static_cast<size_t>(total), 0);
      int64_t stored = 0;
      int64_t kv_replicas = 1;
      for (int r = 0; r < W; ++r) {
        const PartitionPlan p = plan_partition(full.config, W, r);
        kv_replicas = p.kv_replicas;
        const ModelWeights s = shard_weights(full, p);
        visit(s, [&](const std::string&, const float* v, int64_t n) {
          stored += n;
          for (int64_t i = 0; i < n; ++i) {
            REQUIRE(v[i] >= 0);
            REQUIRE(v[i] < total);
            ++count[static_cast<size_t>(v[i])];
          }
        });
      }
      int64_t split = 0, replicated = 0, kv = 0;
      visit(full, [&](const std::string& tensor, const float* v, int64_t n) {
        const bool rep = replicated_by_design(tensor), is_kv = kv_tensor(tensor);
        const int expect = rep ? W : is_kv ? static_cast<int>(kv_replicas) : 1;
        (rep ? replicated : is_kv ? kv : split) += n;
        int wrong = 0;
        for (int64_t i = 0; i < n; ++i) wrong += count[static_cast<size_t>(v[i])] != expect;
        INFO(tensor << ": elements held a number of times other than " << expect);
        CHECK(wrong == 0);
      });
      CHECK(split + replicated + kv == total);
      CHECK(stored == split + W * replicated + kv_replicas * kv);
      std::printf("partition coverage %s W=%d: %lld parameters; %lld split (held once), %lld KV (held %lld times), "
                  "%lld replicated (held %d times); shards hold %lld\n",
                  name, W, static_cast<long long>(total), static_cast<long long>(split), static_cast<long long>(kv),
                  static_cast<long long>(kv_replicas), static_cast<long long>(replicated), W,
                  static_cast<long long>(stored));
    }
  }
}

TEST_CASE("shards keep dtypes, state their sizes in their config, own their column slices") {
  const ModelWeights full = load_model_weights(fixture("super_bf16"));
  const PartitionPlan p = plan_partition(full.config, 4, 1);
  const ModelWeights s = shard_weights(full, p);
  const ModelConfig& c = s.config;
  CHECK(c.num_attention_heads == 1);
  CHECK(c.num_key_value_heads == 1);
  CHECK(c.mamba_num_heads == 2);
  CHECK(c.n_groups == 1);
  CHECK(c.intermediate_size == 24);
  CHECK(c.shared_width() == 12);
  CHECK(c.n_routed_experts == 8);  // the router still sees every expert
  CHECK_NOTHROW(validate_model_config(c));
  for (size_t l = 0; l < s.layers.size(); ++l) {
    const LayerWeights& lw = s.layers[l];
    const LayerWeights& fl = full.layers[l];
    if (lw.type == LayerType::kMamba) {
      CHECK(lw.mamba.in_proj.dtype == DType::BF16);
      CHECK(lw.mamba.in_proj.rows == c.in_proj_out());
      CHECK(lw.mamba.out_proj.cols == c.d_inner());
      CHECK(lw.mamba.conv_w.size() == static_cast<size_t>(c.conv_kernel * c.conv_dim()));
      CHECK(lw.mamba.norm.size() == static_cast<size_t>(c.d_inner()));
    }
    if (lw.type == LayerType::kAttention) {
      CHECK(lw.attention.o.dtype == DType::BF16);
      // Whole rows are views of the full model, columns are copies.
      CHECK(lw.attention.q.data == static_cast<const unsigned char*>(fl.attention.q.data) + 1 * 16 * 64 * 2);
      CHECK(lw.attention.k.data == fl.attention.k.data);  // query head 1 belongs to KV head 0
      CHECK(lw.attention.o.data != fl.attention.o.data);
    }
    if (lw.type == LayerType::kMoe) {
      CHECK(lw.moe.experts[1].up.rows == 0);
      CHECK(lw.moe.experts[2].up.data == fl.moe.experts[2].up.data);
      CHECK(lw.moe.experts[3].down.dtype == DType::BF16);
      CHECK(lw.moe.experts[4].up.rows == 0);
    }
  }
  // W = 1: the shard is the model itself, every matrix the same view.
  const ModelWeights one = shard_weights(full, plan_partition(full.config, 1, 0));
  for (size_t l = 0; l < one.layers.size(); ++l) {
    CHECK(one.layers[l].mamba.in_proj.data == full.layers[l].mamba.in_proj.data);
    CHECK(one.layers[l].mamba.out_proj.data == full.layers[l].mamba.out_proj.data);
    CHECK(one.layers[l].attention.o.data == full.layers[l].attention.o.data);
    CHECK(one.layers[l].moe.shared.down.data == full.layers[l].moe.shared.down.data);
  }
}

TEST_CASE("W = 1 is bitwise the unsharded model, prefill and decode (the no-op)") {
  for (const char* name : {"nano_fp32", "nano_bf16", "super_fp32", "super_bf16", "dt_clamp_fp32"}) {
    INFO(name);
    EngineOptions o;
    o.threads = 1;  // bf16 activations (AMX where present) included: the same arithmetic
    const Prompt p = prompt_of(name, 4);
    NemotronH plain(load_model_weights(fixture(name)), o);
    ShardedNemotronH one(load_model_weights(fixture(name)), 1, o);
    const auto a = run(plain, p), b = run(one, p);
    REQUIRE(a.size() == b.size());
    CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("sharded prefill and decode equal the unsharded model (W = 2, and 4 where the groups allow)") {
  const EngineOptions o = exact_options();
  for (const char* name : {"nano_fp32", "super_fp32", "dt_clamp_fp32", "nano_bf16", "super_bf16"}) {
    const ModelWeights full = load_model_weights(fixture(name));
    const Prompt p = prompt_of(name, 6);
    NemotronH plain(full, o);
    const auto want = run(plain, p);
    for (int W : {2, 4}) {
      if (W == 4 && full.config.n_groups % 4) continue;
      ShardedNemotronH sharded(full, W, o);
      const auto got = run(sharded, p);
      const double err = worst_row_err(got, want, full.config.vocab_size);
      std::printf("partition forward %s W=%d: worst row rel err %.3g over %zu prefill + %zu decode rows\n", name, W,
                  err, p.prompt.size(), p.decode.size());
      INFO(name << " W = " << W << ": worst row rel err " << err);
      CHECK(err <= 1e-5);
    }
  }
}

TEST_CASE("sharded bf16 with bf16 activations stays close to the unsharded model") {
  // Row-parallel slices change which products qualify for the AMX path (columns % 32), so
  // the bf16 rounding of activations differs: bf16 tolerance.
  EngineOptions o;
  o.threads = 1;
  const ModelWeights full = load_model_weights(fixture("super_bf16"));
  const Prompt p = prompt_of("super_bf16", 4);
  NemotronH plain(full, o);
  ShardedNemotronH sharded(full, 2, o);
  const double err = worst_row_err(run(sharded, p), run(plain, p), full.config.vocab_size);
  std::printf("partition forward super_bf16 W=2, bf16 activations: worst row rel err %.3g\n", err);
  CHECK(err <= 2e-2);
}

TEST_CASE("sharded state: each rank's layers, then the next rank's, prompt split across calls") {
  const ModelWeights full = load_model_weights(fixture("super_fp32"));
  ShardedNemotronH sharded(full, 2, exact_options());
  ModelState s = sharded.new_state();
  REQUIRE(s.layers.size() == 2 * full.layers.size());
  CHECK(s.layers[0].ssm.size() == static_cast<size_t>(4 * 8 * 16));  // rank 0's 4 of 8 Mamba heads
  const Prompt p = prompt_of("super_fp32", 0);
  const int64_t V = full.config.vocab_size;
  std::vector<float> whole(V), split(V);
  sharded.forward(s, p.prompt.data(), 40, whole.data(), false);
  ModelState t = sharded.new_state();
  sharded.forward(t, p.prompt.data(), 17, nullptr, false);
  sharded.forward(t, p.prompt.data() + 17, 23, split.data(), false);
  CHECK(t.position == 40);
  CHECK(worst_row_err(split, whole, V) <= 1e-5);
  // Prefill in batches of 7 tokens (forward_rank splits as NemotronH::forward does).
  EngineOptions small = exact_options();
  small.max_batch = 7;
  NemotronH plain(full, small);
  ShardedNemotronH batched(full, 2, small);
  const Prompt q = prompt_of("super_fp32", 3);
  CHECK(worst_row_err(run(batched, q), run(plain, q), V) <= 1e-5);
  // A bad token fails on every rank before any reduction, and the model stays usable.
  const int32_t bad = static_cast<int32_t>(V);
  CHECK_THROWS_AS(sharded.forward(t, &bad, 1, nullptr, false), std::out_of_range);
  CHECK_NOTHROW(sharded.forward(t, p.prompt.data(), 1, split.data(), false));
}

// The sharded CUDA model's host form (engine/shard_state.h): the unsharded layout, sliced per rank.
TEST_CASE("layer states: a rank's slice is what its shard computes; slices reassemble the whole") {
  const EngineOptions o = exact_options();
  for (const char* name : {"super_fp32", "nano_fp32"}) {
    const ModelWeights full = load_model_weights(fixture(name));
    const ModelConfig& c = full.config;
    const Prompt p = prompt_of(name, 0);
    NemotronH plain(full, o);
    ModelState whole = plain.new_state();
    plain.forward(whole, p.prompt.data(), 40, nullptr, false);
    for (int W : {1, 2, 4}) {
      if (c.n_groups % W) continue;
      INFO(name << " W = " << W);
      ShardedNemotronH sharded(full, W, o);
      ModelState s = sharded.new_state();
      sharded.forward(s, p.prompt.data(), 40, nullptr, false);
      std::vector<PartitionPlan> plans;
      std::vector<std::vector<LayerState>> parts;
      const size_t L = c.layers.size();
      for (int r = 0; r < W; ++r) {
        plans.push_back(sharded.plan(r));
        const std::vector<LayerState> mine(s.layers.begin() + r * L, s.layers.begin() + (r + 1) * L);
        const std::vector<LayerState> want = shard_layer_states(c, plans[r], whole.layers);
        for (size_t l = 0; l < L; ++l) {  // the same sizes, and values within the sharded tolerance
          REQUIRE(mine[l].conv.size() == want[l].conv.size());
          REQUIRE(mine[l].ssm.size() == want[l].ssm.size());
          REQUIRE(mine[l].k.size() == want[l].k.size());
          REQUIRE(mine[l].v.size() == want[l].v.size());
          for (auto [a, b] : {std::pair{&mine[l].conv, &want[l].conv}, std::pair{&mine[l].ssm, &want[l].ssm},
                              std::pair{&mine[l].k, &want[l].k}, std::pair{&mine[l].v, &want[l].v}})
            for (size_t i = 0; i < a->size(); ++i) CHECK(std::abs((*a)[i] - (*b)[i]) <= 1e-4 * (1 + std::abs((*b)[i])));
        }
        parts.push_back(want);
      }
      // Sliced and reassembled: the same numbers (replicated KV heads read once).
      CHECK(unshard_layer_states(c, plans, parts) == whole.layers);
    }
  }
}

TEST_CASE("layer states: mismatched inputs are refused") {
  const ModelWeights full = load_model_weights(fixture("super_fp32"));
  const ModelConfig& c = full.config;
  const ModelState z = zero_host_state(c);
  const PartitionPlan p0 = plan_partition(c, 2, 0), p1 = plan_partition(c, 2, 1);
  CHECK_THROWS_AS(shard_layer_states(c, p0, {}), std::invalid_argument);
  const auto a = shard_layer_states(c, p0, z.layers), b = shard_layer_states(c, p1, z.layers);
  CHECK(unshard_layer_states(c, {p0, p1}, {a, b}) == z.layers);
  CHECK_THROWS_AS(unshard_layer_states(c, {p0, p1}, {a}), std::invalid_argument);
  CHECK_THROWS_AS(unshard_layer_states(c, {p1, p0}, {b, a}), std::invalid_argument);  // heads out of order
}

TEST_CASE("in-process all-reduce: every rank gets the same sum, a failed rank releases the others") {
  const int W = 3;
  auto comms = make_in_process_collectives(W);
  std::vector<std::vector<float>> bufs(W);
  for (int r = 0; r < W; ++r)
    for (int i = 0; i < 1000; ++i) bufs[r].push_back(0.1f * static_cast<float>(r + 1) + 1e-3f * static_cast<float>(i));
  std::vector<std::thread> threads;
  for (int r = 0; r < W; ++r)
    threads.emplace_back([&, r] {
      for (int round = 0; round < 50; ++round) comms[r]->all_reduce_sum(bufs[r].data(), 1000);
    });
  for (auto& t : threads) t.join();
  CHECK(bufs[0] == bufs[1]);
  CHECK(bufs[1] == bufs[2]);
  CHECK(comms[2]->rank() == 2);
  CHECK(comms[2]->world_size() == 3);

  std::atomic<int> released{0};
  std::vector<std::thread> waiters;
  for (int r = 0; r < 2; ++r)
    waiters.emplace_back([&, r] {
      try {
        comms[r]->all_reduce_sum(bufs[r].data(), 1000);
      } catch (const std::runtime_error&) {
        ++released;
      }
    });
  comms[2]->abort();
  for (auto& t : waiters) t.join();
  CHECK(released == 2);
}
