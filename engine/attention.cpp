// Attention block (reference doc 1.5): GQA self-attention with no positional encoding (no RoPE,
// no q/k norm), causal, fp32 softmax, scale head_dim^-0.5. The state is the K/V cache.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "engine/nemotronh.h"

namespace nagent::engine::blocks {

void attention(NemotronH& m, const AttentionWeights& w, LayerState& s, int64_t pos, const float* x, int64_t T,
               float* out) {
  const ModelConfig& c = m.config();
  const int64_t Hq = c.num_attention_heads, hd = c.head_dim, rep = Hq / c.num_key_value_heads;
  const int64_t qd = Hq * hd, kvd = c.num_key_value_heads * hd;
  if (static_cast<int64_t>(s.k.size()) != pos * kvd) throw std::logic_error("KV cache out of step with position");

  float* q = m.work(kMixer0, T * qd);
  m.matmul(w.q, x, T, q, qd, w.q_bias);
  s.k.resize(static_cast<size_t>((pos + T) * kvd));
  s.v.resize(s.k.size());
  m.matmul(w.k, x, T, s.k.data() + pos * kvd, kvd, w.k_bias);
  m.matmul(w.v, x, T, s.v.data() + pos * kvd, kvd, w.v_bias);

  float* o = m.work(kMixer1, T * qd);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  m.pool().run(T * Hq, [&](int64_t i) {
    const int64_t t = i / Hq, h = i % Hq, kvh = h / rep;
    const int64_t n = pos + t + 1;  // causal: keys 0..pos+t
    thread_local std::vector<float> scores;
    scores.resize(static_cast<size_t>(n));
    const float* qv = &q[t * qd + h * hd];
    float mx = -INFINITY;
    for (int64_t j = 0; j < n; ++j) {
      scores[j] = dot_f32(qv, &s.k[j * kvd + kvh * hd], hd) * scale;
      mx = std::max(mx, scores[j]);
    }
    float sum = 0.0f;
    for (int64_t j = 0; j < n; ++j) sum += (scores[j] = std::exp(scores[j] - mx));
    float* ov = &o[t * qd + h * hd];
    std::fill(ov, ov + hd, 0.0f);
    for (int64_t j = 0; j < n; ++j) {
      const float p = scores[j] / sum;
      const float* vv = &s.v[j * kvd + kvh * hd];
      for (int64_t e = 0; e < hd; ++e) ov[e] += p * vv[e];
    }
  });
  m.matmul(w.o, o, T, out, c.hidden_size, w.o_bias);
}

}  // namespace nagent::engine::blocks
