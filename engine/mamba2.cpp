// Mamba-2 mixer (reference doc 1.8): in_proj -> causal depthwise conv1d + SiLU -> selective
// state-space scan (chunked SSD for prefill, recurrent step for decode) -> gated grouped
// RMSNorm -> out_proj. State per sequence: the last K-1 conv inputs and S [Hm, P, N].
#include <algorithm>
#include <cmath>

#include "engine/nemotronh.h"

namespace nagent::engine::blocks {

namespace {

struct Dims {
  int64_t d_inner, gn, conv_dim, heads, P, N, G, K, in_out, heads_per_group;
  explicit Dims(const ModelConfig& c)
      : d_inner(c.d_inner()), gn(c.gn()), conv_dim(c.conv_dim()), heads(c.mamba_num_heads), P(c.mamba_head_dim),
        N(c.ssm_state_size), G(c.n_groups), K(c.conv_kernel), in_out(c.in_proj_out()),
        heads_per_group(c.mamba_num_heads / c.n_groups) {}
};

// Views of the conv output row t: x heads [d_inner], then B [G, N], then C [G, N].
struct ConvRows {
  const float* base;
  const Dims& d;
  const float* x(int64_t t, int64_t h) const { return base + t * d.conv_dim + h * d.P; }
  const float* B(int64_t t, int64_t g) const { return base + t * d.conv_dim + d.d_inner + g * d.N; }
  const float* C(int64_t t, int64_t g) const { return base + t * d.conv_dim + d.d_inner + d.gn + g * d.N; }
};


// One token: S = exp(dt A) S + dt x B^T; y = S C + D x.
void ssm_step(const Dims& d, const ConvRows& cv, int64_t h, float dt, float A, float D, float* S, float* y) {
  const int64_t g = h / d.heads_per_group;
  const float* x = cv.x(0, h);
  const float* B = cv.B(0, g);
  const float* C = cv.C(0, g);
  const float decay = std::exp(dt * A);
  for (int64_t p = 0; p < d.P; ++p) {
    float* Sp = S + p * d.N;
    const float xdt = x[p] * dt;
    float acc = 0.0f;
    for (int64_t n = 0; n < d.N; ++n) {
      Sp[n] = decay * Sp[n] + xdt * B[n];
      acc += Sp[n] * C[n];
    }
    y[p] = acc + D * x[p];
  }
}

// Per-thread scratch of the scan tasks, grown once and reused.
struct ScanScratch {
  std::vector<float> st, yc, m, bt, dt, cum, decay, L;
  static float* get(std::vector<float>& v, int64_t n) {
    if (v.size() < static_cast<size_t>(n)) v.resize(static_cast<size_t>(n));
    return v.data();
  }
};
thread_local ScanScratch scratch;

// C_i . B_j inside each chunk, per B/C group: [G][T][Q] (row t = c0 + i holds j < q). Shared by
// the heads of a group, so computed once.
void chunk_cb(ThreadPool& pool, const Dims& d, const ConvRows& cv, int64_t T, int64_t Q, float* cb) {
  const int64_t chunks = (T + Q - 1) / Q;
  pool.run(d.G * chunks, [&](int64_t task) {
    const int64_t g = task / chunks, c0 = (task % chunks) * Q, q = std::min(Q, T - c0);
    float* bt = ScanScratch::get(scratch.bt, d.N * q);  // B^T of the chunk [N, q]
    for (int64_t j = 0; j < q; ++j)
      for (int64_t n = 0; n < d.N; ++n) bt[n * q + j] = cv.B(c0 + j, g)[n];
    gemm_f32(q, q, d.N, cv.C(c0, g), d.conv_dim, bt, q, cb + (g * T + c0) * Q, Q);
  });
}

// Channels [p0, p0 + pn) of head h over T tokens in chunks of Q (reference doc 1.8, "Prefill"):
// within a chunk the output is an attention-like sum over earlier positions of the chunk
// (Y_diag = M X with M[i, j] = C_i.B_j exp(cum_i - cum_j) dt_j) plus the carried state read
// through C (Y_off); the state is then advanced once per chunk. Equal to T recurrent steps up
// to rounding. The three products run as fp32 GEMMs on the state transposed to [N, pn].
void ssd_chunked(const Dims& d, const ConvRows& cv, const float* cb, int64_t T, int64_t Q, int64_t h, int64_t p0,
                 int64_t pn, const float* dt, float A, float D, float* S, float* y, int64_t ldy) {
  const int64_t g = h / d.heads_per_group, N = d.N, ldc = d.conv_dim;
  ScanScratch& sc = scratch;
  float* st = ScanScratch::get(sc.st, N * pn);
  float* yc = ScanScratch::get(sc.yc, Q * pn);
  float* M = ScanScratch::get(sc.m, Q * Q);
  float* bt = ScanScratch::get(sc.bt, N * Q);
  float* dtj = ScanScratch::get(sc.dt, Q);
  float* cum = ScanScratch::get(sc.cum, Q);
  float* decay = ScanScratch::get(sc.decay, Q);
  float* L = ScanScratch::get(sc.L, Q);
  for (int64_t p = 0; p < pn; ++p)
    for (int64_t n = 0; n < N; ++n) st[n * pn + p] = S[(p0 + p) * N + n];
  for (int64_t c0 = 0; c0 < T; c0 += Q) {
    const int64_t q = std::min(Q, T - c0);
    const float* X = cv.x(c0, h) + p0;  // [q, pn], row stride ldc
    float run = 0.0f;
    for (int64_t i = 0; i < q; ++i) {
      dtj[i] = dt[(c0 + i) * d.heads];
      const float a = dtj[i] * A;
      cum[i] = (run += a);
      decay[i] = std::exp(a);
    }
    // Y_off: the state carried into the chunk, read through C_i, decayed to position i.
    gemm_f32(q, pn, N, cv.C(c0, g), ldc, st, pn, yc, pn);
    for (int64_t i = 0; i < q; ++i) {
      const float into = std::exp(cum[i]);
      for (int64_t p = 0; p < pn; ++p) yc[i * pn + p] *= into;
    }
    // Y_diag. L[j] = exp(cum_i - cum_j) is kept as a running product of per-step decays (row i
    // from row i-1) instead of i exponentials; M is zero above the diagonal.
    for (int64_t i = 0; i < q; ++i) {
      for (int64_t j = 0; j < i; ++j) L[j] *= decay[i];
      L[i] = 1.0f;
      const float* cbi = cb + (g * T + c0 + i) * Q;
      float* Mi = M + i * q;
      for (int64_t j = 0; j <= i; ++j) Mi[j] = cbi[j] * L[j] * dtj[j];
      std::fill(Mi + i + 1, Mi + q, 0.0f);
    }
    gemm_f32(q, pn, q, M, q, X, ldc, yc, pn, true, true);
    for (int64_t i = 0; i < q; ++i) {
      float* yt = y + (c0 + i) * ldy + p0;
      const float* xt = X + i * ldc;
      for (int64_t p = 0; p < pn; ++p) yt[p] = yc[i * pn + p] + D * xt[p];
    }
    // Advance the state over the whole chunk: S = exp(sum a) S + sum_j exp(cum_end - cum_j) dt_j x_j B_j^T,
    // here as S^T += (B^T scaled by column) X. L now holds row q-1: exp(cum_end - cum_j).
    const float chunk_decay = std::exp(cum[q - 1]);
    for (int64_t i = 0; i < N * pn; ++i) st[i] *= chunk_decay;
    for (int64_t j = 0; j < q; ++j) {
      const float wj = L[j] * dtj[j];
      const float* Bj = cv.B(c0 + j, g);
      for (int64_t n = 0; n < N; ++n) bt[n * q + j] = wj * Bj[n];
    }
    gemm_f32(N, pn, q, bt, q, X, ldc, st, pn, true);
  }
  for (int64_t p = 0; p < pn; ++p)
    for (int64_t n = 0; n < N; ++n) S[(p0 + p) * N + n] = st[n * pn + p];
}

}  // namespace

void mamba2(NemotronH& m, const MambaWeights& w, LayerState& s, int64_t pos, const float* x, int64_t T,
            float* out) {
  const SeqRows one{&s, pos, 0, T};
  mamba2_seqs(m, w, &one, 1, x, out);
}

void mamba2_seqs(NemotronH& m, const MambaWeights& w, const SeqRows* seqs, int64_t nseq, const float* x,
                 float* out) {
  if (nseq == 0) return;
  const ModelConfig& c = m.config();
  const Dims d(c);
  const int64_t R = seqs[nseq - 1].row0 + seqs[nseq - 1].T;  // stacked rows
  if (R == 0) return;
  float* zx = m.work(kMixer0, R * d.in_out);
  m.matmul(w.in_proj, x, R, zx, d.in_out, w.in_proj_bias);

  // Causal depthwise conv over [conv state (K-1 rows) | the sequence's xBC rows], then SiLU.
  const int64_t K = d.K, CD = d.conv_dim;
  auto input = [&](const SeqRows& q, int64_t r) {  // row r of [state | the sequence's rows]
    return r < K - 1 ? &q.state->conv[r * CD] : zx + (q.row0 + r - (K - 1)) * d.in_out + d.d_inner;
  };
  float* conv = m.work(kMixer1, R * CD);
  m.pool().run(R, [&](int64_t row) {
    const SeqRows& q = seq_of_row(seqs, nseq, row);
    const int64_t t = row - q.row0;
    float* o = conv + row * CD;
    std::copy_n(w.conv_b.data(), CD, o);
    for (int64_t k = 0; k < K; ++k) {
      const float* wk = &w.conv_w[k * CD];
      const float* in = input(q, t + k);
      for (int64_t ch = 0; ch < CD; ++ch) o[ch] += wk[ch] * in[ch];
    }
    for (int64_t ch = 0; ch < CD; ++ch) o[ch] = silu(o[ch]);
  });
  // The new state is rows T..T+K-2; in place, as row r reads row T + r > r.
  auto shift = [&](int64_t i) {
    const SeqRows& q = seqs[i];
    for (int64_t r = 0; r < K - 1; ++r) std::copy_n(input(q, q.T + r), CD, &q.state->conv[r * CD]);
  };
  if (nseq == 1) shift(0);
  else m.pool().run(nseq, shift);

  // dt = softplus(dt_raw + dt_bias), limited to time_step_limit ((0, inf) by default: no-op),
  // as NVIDIA's kernels and vLLM do. transformers 5.17 instead clamps at time_step_min in its
  // prefill path and not in its cached one-token step; DtClamp::kTransformers reproduces that.
  float* dt = m.work(kMixer2, R * d.heads);
  for (int64_t i = 0; i < nseq; ++i) {
    const SeqRows& q = seqs[i];
    double lo = c.time_step_limit[0], hi = c.time_step_limit[1];
    const bool cached_step = q.pos > 0 && q.T == 1;
    if (m.options().dt_clamp == DtClamp::kTransformers && !cached_step) lo = std::max(lo, c.time_step_min);
    for (int64_t t = q.row0; t < q.row0 + q.T; ++t)
      for (int64_t h = 0; h < d.heads; ++h) {
        const double v = softplus(zx[t * d.in_out + d.d_inner + CD + h] + w.dt_bias[h]);
        dt[t * d.heads + h] = static_cast<float>(std::min(hi, std::max(lo, v)));
      }
  }

  // The scan: one recurrent step for a sequence with one row, chunked SSD for longer ones.
  float* y = m.work(kMixer3, R * d.d_inner);
  const int64_t state_per_head = d.P * d.N;
  bool any_step = false;
  for (int64_t i = 0; i < nseq; ++i) any_step |= seqs[i].T == 1;
  if (any_step) {
    m.pool().run(nseq * d.heads, [&](int64_t task) {
      const SeqRows& q = seqs[task / d.heads];
      if (q.T != 1) return;
      const int64_t h = task % d.heads;
      const ConvRows cv{conv + q.row0 * CD, d};
      ssm_step(d, cv, h, dt[q.row0 * d.heads + h], w.A[h], w.D[h], q.state->ssm.data() + h * state_per_head,
               &y[q.row0 * d.d_inner + h * d.P]);
    });
  }
  for (int64_t i = 0; i < nseq; ++i) {
    const SeqRows& q = seqs[i];
    if (q.T <= 1) continue;
    const int64_t T = q.T;
    const ConvRows cv{conv + q.row0 * CD, d};
    float* cb = m.work(kMixer4, d.G * T * c.chunk_size);
    chunk_cb(m.pool(), d, cv, T, c.chunk_size, cb);
    // Heads split into channel parts (each its own rows of S) until every thread has two tasks.
    int64_t parts = 1;
    while (d.heads * parts < 2 * m.pool().size() && d.P % (2 * parts) == 0 && d.P / (2 * parts) >= 16) parts *= 2;
    const int64_t pn = d.P / parts;
    const float* dts = dt + q.row0 * d.heads;
    float* ys = y + q.row0 * d.d_inner;
    m.pool().run(d.heads * parts, [&](int64_t task) {
      const int64_t h = task / parts, p0 = (task % parts) * pn;
      ssd_chunked(d, cv, cb, T, c.chunk_size, h, p0, pn, &dts[h], w.A[h], w.D[h],
                  q.state->ssm.data() + h * state_per_head, &ys[h * d.P], d.d_inner);
    });
  }

  // Gated RMSNorm: u = y * silu(z), normalised per group of d_inner/G channels (all heads of a
  // B/C group), then scaled by the norm weight.
  const int64_t gs = d.d_inner / d.G;
  const float eps = static_cast<float>(c.layer_norm_epsilon);
  m.pool().run(R, [&](int64_t t) {
    float* u = &y[t * d.d_inner];
    const float* z = &zx[t * d.in_out];
    for (int64_t i = 0; i < d.d_inner; ++i) u[i] *= silu(z[i]);
    for (int64_t g = 0; g < d.G; ++g) {
      float* ug = u + g * gs;
      double ss = 0.0;
      for (int64_t i = 0; i < gs; ++i) ss += static_cast<double>(ug[i]) * ug[i];
      const float r = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(gs) + eps));
      for (int64_t i = 0; i < gs; ++i) ug[i] = w.norm[g * gs + i] * (ug[i] * r);
    }
  });
  m.matmul(w.out_proj, y, R, out, c.hidden_size, w.out_proj_bias);
}

}  // namespace nagent::engine::blocks
