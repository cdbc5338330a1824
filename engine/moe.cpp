// MoE block (reference doc 1.7): fp32 sigmoid router, correction bias used only to choose,
// group-limited top-k, renormalised and scaled weights, ReLU² experts (optionally in a latent
// width between fc1/fc2 projections), plus a shared expert on the full-width input.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/nemotronh.h"

namespace nagent::engine::blocks {

std::vector<std::pair<int, float>> route(const ModelConfig& c, const float* logits, const float* correction_bias) {
  const int E = static_cast<int>(c.n_routed_experts);
  const int k = static_cast<int>(c.num_experts_per_tok);
  std::vector<float> score(E), choice(E);
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
    std::vector<float> gscore(groups);
    for (int g = 0; g < groups; ++g) {
      std::vector<int> members(per);
      std::iota(members.begin(), members.end(), g * per);
      std::partial_sort(members.begin(), members.begin() + 2, members.end(), better(choice));
      gscore[g] = choice[members[0]] + choice[members[1]];
    }
    std::vector<int> order(groups);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), better(gscore));
    for (int i = static_cast<int>(c.topk_group); i < groups; ++i)
      for (int e = order[i] * per; e < (order[i] + 1) * per; ++e) choice[e] = -INFINITY;
  }
  std::vector<int> idx(E);
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), better(choice));
  std::vector<std::pair<int, float>> out;
  float sum = 0.0f;
  for (int i = 0; i < k; ++i) {
    out.emplace_back(idx[i], score[idx[i]]);  // weights are the unbiased scores
    sum += score[idx[i]];
  }
  const float scale = static_cast<float>(c.routed_scaling_factor) / (c.norm_topk_prob ? sum + 1e-20f : 1.0f);
  for (auto& [e, wt] : out) wt *= scale;
  return out;
}

void moe(NemotronH& m, const MoeWeights& w, const float* x, int64_t T, float* out) {
  const ModelConfig& c = m.config();
  const int64_t E = c.n_routed_experts, H = c.hidden_size, L = c.latent(), I = c.moe_intermediate_size;

  const Matrix router{w.router.data(), DType::F32, E, H};
  std::vector<float> logits(static_cast<size_t>(T * E));
  m.matmul(router, x, T, logits.data(), E);
  std::vector<std::vector<std::pair<int64_t, float>>> tokens_of(static_cast<size_t>(E));
  for (int64_t t = 0; t < T; ++t)
    for (auto [e, wt] : route(c, &logits[t * E], w.correction_bias.data())) tokens_of[e].emplace_back(t, wt);

  std::vector<float> xl;
  const float* xin = x;
  if (w.latent) {
    xl.resize(static_cast<size_t>(T * L));
    m.matmul(w.fc1_latent, x, T, xl.data(), L, w.fc1_bias);
    xin = xl.data();
  }
  // Each expert runs once over the tokens routed to it.
  std::vector<float> yl(static_cast<size_t>(T * L), 0.0f), xe, he, ye;
  for (int64_t e = 0; e < E; ++e) {
    const auto& mine = tokens_of[e];
    if (mine.empty()) continue;
    const int64_t n = static_cast<int64_t>(mine.size());
    xe.resize(static_cast<size_t>(n * L));
    he.resize(static_cast<size_t>(n * I));
    ye.resize(static_cast<size_t>(n * L));
    for (int64_t i = 0; i < n; ++i) std::copy_n(xin + mine[i].first * L, L, &xe[i * L]);
    const MlpWeights& ex = w.experts[e];
    m.matmul(ex.up, xe.data(), n, he.data(), I, ex.up_bias);
    for (float& v : he) {
      const float r = std::max(v, 0.0f);
      v = r * r;
    }
    m.matmul(ex.down, he.data(), n, ye.data(), L, ex.down_bias);
    for (int64_t i = 0; i < n; ++i) {
      float* dst = &yl[mine[i].first * L];
      const float wt = mine[i].second;
      for (int64_t j = 0; j < L; ++j) dst[j] += wt * ye[i * L + j];
    }
  }
  if (w.latent) m.matmul(w.fc2_latent, yl.data(), T, out, H, w.fc2_bias);
  else std::copy(yl.begin(), yl.end(), out);

  if (w.has_shared) {
    std::vector<float> shared(static_cast<size_t>(T * H));
    mlp(m, w.shared, x, T, shared.data());
    for (size_t i = 0; i < shared.size(); ++i) out[i] += shared[i];
  }
}

}  // namespace nagent::engine::blocks
