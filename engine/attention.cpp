// Attention block (reference doc 1.5): GQA self-attention with no positional encoding (no RoPE,
// no q/k norm), causal, fp32 softmax, scale head_dim^-0.5. The state is the K/V cache.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "engine/nemotronh.h"

namespace nagent::engine::blocks {

void attention(NemotronH& m, const AttentionWeights& w, LayerState& s, int64_t pos, const float* x, int64_t T,
               float* out) {
  const SeqRows one{&s, pos, 0, T};
  attention_seqs(m, w, &one, 1, x, out);
}

void attention_seqs(NemotronH& m, const AttentionWeights& w, const SeqRows* seqs, int64_t nseq, const float* x,
                    float* out) {
  if (nseq == 0) return;
  const ModelConfig& c = m.config();
  const int64_t Hq = c.num_attention_heads, hd = c.head_dim, rep = Hq / c.num_key_value_heads;
  const int64_t qd = Hq * hd, kvd = c.num_key_value_heads * hd;
  for (int64_t i = 0; i < nseq; ++i)
    if (static_cast<int64_t>(seqs[i].state->k.size()) != seqs[i].pos * kvd)
      throw std::logic_error("KV cache out of step with position");
  const int64_t R = seqs[nseq - 1].row0 + seqs[nseq - 1].T;  // stacked rows
  if (R == 0) return;

  float* q = m.work(kMixer0, R * qd);
  m.matmul(w.q, x, R, q, qd, w.q_bias);
  // Keys and values of the new rows, then appended to each sequence's cache.
  float* kn = m.work(kMixer2, R * kvd);
  float* vn = m.work(kMixer3, R * kvd);
  m.matmul(w.k, x, R, kn, kvd, w.k_bias);
  m.matmul(w.v, x, R, vn, kvd, w.v_bias);
  for (int64_t i = 0; i < nseq; ++i) {
    LayerState& s = *seqs[i].state;
    const int64_t pos = seqs[i].pos, T = seqs[i].T;
    s.k.resize(static_cast<size_t>((pos + T) * kvd));
    s.v.resize(s.k.size());
    std::copy_n(kn + seqs[i].row0 * kvd, T * kvd, s.k.data() + pos * kvd);
    std::copy_n(vn + seqs[i].row0 * kvd, T * kvd, s.v.data() + pos * kvd);
  }

  // Each (row, query head) over its own sequence's cache, causal up to its position.
  float* o = m.work(kMixer1, R * qd);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  m.pool().run(R * Hq, [&](int64_t i) {
    const int64_t row = i / Hq, h = i % Hq, kvh = h / rep;
    const SeqRows& sq = seq_of_row(seqs, nseq, row);
    const LayerState& s = *sq.state;
    const int64_t n = sq.pos + (row - sq.row0) + 1;  // causal: keys 0..pos+t
    thread_local std::vector<float> scores;
    scores.resize(static_cast<size_t>(n));
    const float* qv = &q[row * qd + h * hd];
    float mx = -INFINITY;
    for (int64_t j = 0; j < n; ++j) {
      scores[j] = dot_f32(qv, &s.k[j * kvd + kvh * hd], hd) * scale;
      mx = std::max(mx, scores[j]);
    }
    float sum = 0.0f;
    for (int64_t j = 0; j < n; ++j) sum += (scores[j] = std::exp(scores[j] - mx));
    float* ov = &o[row * qd + h * hd];
    std::fill(ov, ov + hd, 0.0f);
    for (int64_t j = 0; j < n; ++j) {
      const float p = scores[j] / sum;
      const float* vv = &s.v[j * kvd + kvh * hd];
      for (int64_t e = 0; e < hd; ++e) ov[e] += p * vv[e];
    }
  });
  m.matmul(w.o, o, R, out, c.hidden_size, w.o_bias);
}

}  // namespace nagent::engine::blocks
