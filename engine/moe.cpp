// MoE block (reference doc 1.7): fp32 sigmoid router, correction bias used only to choose,
// group-limited top-k, renormalised and scaled weights, ReLU² experts (optionally in a latent
// width between fc1/fc2 projections), plus a shared expert on the full-width input.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/nemotronh.h"

namespace nagent::engine::blocks {

namespace {

// route()'s working vectors, kept per thread so that a warm step allocates nothing.
struct RouteScratch {
  std::vector<float> score, choice, gscore;
  std::vector<int> idx, members, order;
};

void route_into(const ModelConfig& c, const float* logits, const float* correction_bias, RouteScratch& sc,
                std::vector<std::pair<int, float>>& out) {
  const int E = static_cast<int>(c.n_routed_experts);
  const int k = static_cast<int>(c.num_experts_per_tok);
  std::vector<float>& score = sc.score;
  std::vector<float>& choice = sc.choice;
  score.resize(E);
  choice.resize(E);
  for (int e = 0; e < E; ++e) {
    score[e] = 1.0f / (1.0f + std::exp(-logits[e]));
    choice[e] = score[e] + correction_bias[e];
  }
  // Ties go to the lower index (torch.topk's order on ties is unspecified).
  auto better = [](const std::vector<float>& v) { return [&v](int a, int b) { return v[a] > v[b] || (v[a] == v[b] && a < b); }; };
  if (c.n_group > 1) {
    // A group scores the sum of its two best experts; experts outside the topk_group best
    // groups cannot be chosen (transformers masks them with -inf).
    const int groups = static_cast<int>(c.n_group), per = E / groups;
    std::vector<float>& gscore = sc.gscore;
    gscore.resize(groups);
    std::vector<int>& members = sc.members;
    for (int g = 0; g < groups; ++g) {
      members.resize(per);
      std::iota(members.begin(), members.end(), g * per);
      std::partial_sort(members.begin(), members.begin() + 2, members.end(), better(choice));
      gscore[g] = choice[members[0]] + choice[members[1]];
    }
    std::vector<int>& order = sc.order;
    order.resize(groups);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), better(gscore));
    for (int i = static_cast<int>(c.topk_group); i < groups; ++i)
      for (int e = order[i] * per; e < (order[i] + 1) * per; ++e) choice[e] = -INFINITY;
  }
  std::vector<int>& idx = sc.idx;
  idx.resize(E);
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), better(choice));
  out.clear();
  float sum = 0.0f;
  for (int i = 0; i < k; ++i) {
    out.emplace_back(idx[i], score[idx[i]]);  // weights are the unbiased scores
    sum += score[idx[i]];
  }
  const float scale = static_cast<float>(c.routed_scaling_factor) / (c.norm_topk_prob ? sum + 1e-20f : 1.0f);
  for (auto& [e, wt] : out) wt *= scale;
}

}  // namespace

std::vector<std::pair<int, float>> route(const ModelConfig& c, const float* logits, const float* correction_bias) {
  RouteScratch sc;
  std::vector<std::pair<int, float>> out;
  route_into(c, logits, correction_bias, sc, out);
  return out;
}

// T rows, tokens routed to the same expert grouped so that each expert's weights are read once
// per call (a prefill batch, or one row per sequence in batched decode). Work buffers: the
// shared expert (mlp) uses kMixer0, which the routed experts use too, one at a time.
void moe(NemotronH& m, const MoeWeights& w, const float* x, int64_t T, float* out) {
  const ModelConfig& c = m.config();
  const int64_t E = c.n_routed_experts, H = c.hidden_size, L = c.latent(), I = c.moe_intermediate_size;

  const Matrix router{w.router.data(), DType::F32, E, H};
  float* logits = m.work(kMixer1, T * E);
  m.matmul(router, x, T, logits, E);
  thread_local std::vector<std::vector<std::pair<int64_t, float>>> tokens_of;
  thread_local RouteScratch sc;
  thread_local std::vector<std::pair<int, float>> chosen;
  if (tokens_of.size() < static_cast<size_t>(E)) tokens_of.resize(static_cast<size_t>(E));
  for (int64_t e = 0; e < E; ++e) tokens_of[e].clear();
  for (int64_t t = 0; t < T; ++t) {
    route_into(c, &logits[t * E], w.correction_bias.data(), sc, chosen);
    for (auto [e, wt] : chosen) tokens_of[e].emplace_back(t, wt);
  }

  const float* xin = x;
  if (w.latent) {
    float* xl = m.work(kMixer2, T * L);
    m.matmul(w.fc1_latent, x, T, xl, L, w.fc1_bias);
    xin = xl;
  }
  // Each expert runs once over the tokens routed to it, in expert order (so a token's sum is
  // the same whatever else is in the batch).
  float* yl = m.work(kMixer3, T * L);
  std::fill(yl, yl + T * L, 0.0f);
  for (int64_t e = 0; e < E; ++e) {
    const auto& mine = tokens_of[e];
    if (mine.empty()) continue;
    const int64_t n = static_cast<int64_t>(mine.size());
    float* xe = m.work(kMixer4, n * L);
    float* he = m.work(kMixer0, n * I);
    float* ye = m.work(kMixer5, n * L);
    for (int64_t i = 0; i < n; ++i) std::copy_n(xin + mine[i].first * L, L, &xe[i * L]);
    const MlpWeights& ex = w.experts[e];
    m.matmul(ex.up, xe, n, he, I, ex.up_bias);
    for (float* v = he; v < he + n * I; ++v) {
      const float r = std::max(*v, 0.0f);
      *v = r * r;
    }
    m.matmul(ex.down, he, n, ye, L, ex.down_bias);
    for (int64_t i = 0; i < n; ++i) {
      float* dst = &yl[mine[i].first * L];
      const float wt = mine[i].second;
      for (int64_t j = 0; j < L; ++j) dst[j] += wt * ye[i * L + j];
    }
  }
  if (w.latent) m.matmul(w.fc2_latent, yl, T, out, H, w.fc2_bias);
  else std::copy(yl, yl + T * L, out);

  if (w.has_shared) {
    float* shared = m.work(kMixer6, T * H);
    mlp(m, w.shared, x, T, shared);
    for (int64_t i = 0; i < T * H; ++i) out[i] += shared[i];
  }
}

}  // namespace nagent::engine::blocks
