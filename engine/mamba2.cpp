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

// C_i . B_j for i >= j inside each chunk, per B/C group: [G][T][Q] (row t = c0 + i holds j < Q).
// Shared by the heads of a group, so computed once.
std::vector<float> chunk_cb(ThreadPool& pool, const Dims& d, const ConvRows& cv, int64_t T, int64_t Q) {
  std::vector<float> cb(static_cast<size_t>(d.G * T * Q));
  const int64_t chunks = (T + Q - 1) / Q;
  pool.run(d.G * chunks, [&](int64_t task) {
    const int64_t g = task / chunks, c0 = (task % chunks) * Q, q = std::min(Q, T - c0);
    for (int64_t i = 0; i < q; ++i)
      for (int64_t j = 0; j <= i; ++j) cb[(g * T + c0 + i) * Q + j] = dot_f32(cv.C(c0 + i, g), cv.B(c0 + j, g), d.N);
  });
  return cb;
}

// T tokens in chunks of Q (reference doc 1.8, "Prefill"): within a chunk the output is an
// attention-like sum over earlier positions of the chunk (Y_diag) plus the carried state read
// through C (Y_off); the state is then advanced once per chunk. Equal to T recurrent steps up
// to rounding.
void ssd_chunked(const Dims& d, const ConvRows& cv, const float* cb, int64_t T, int64_t Q, int64_t h, const float* dt,
                 float A, float D, float* S, float* y, int64_t ldy) {
  const int64_t g = h / d.heads_per_group;
  std::vector<float> cum(static_cast<size_t>(Q)), decay(static_cast<size_t>(Q)), L(static_cast<size_t>(Q));
  for (int64_t c0 = 0; c0 < T; c0 += Q) {
    const int64_t q = std::min(Q, T - c0);
    float run = 0.0f;
    for (int64_t i = 0; i < q; ++i) {
      const float a = dt[(c0 + i) * d.heads] * A;
      cum[i] = (run += a);
      decay[i] = std::exp(a);
    }
    for (int64_t i = 0; i < q; ++i) {
      const int64_t t = c0 + i;
      const float* C = cv.C(t, g);
      const float* x = cv.x(t, h);
      float* yt = y + t * ldy;
      // Y_off: the state carried into the chunk, decayed to position i, read through C_i.
      const float into = std::exp(cum[i]);
      for (int64_t p = 0; p < d.P; ++p) yt[p] = into * dot_f32(S + p * d.N, C, d.N) + D * x[p];
      // Y_diag: positions j <= i of this chunk; L[j] = exp(cum_i - cum_j), kept as a running
      // product of per-step decays (row i from row i-1) instead of i exponentials.
      for (int64_t j = 0; j < i; ++j) L[j] *= decay[i];
      L[i] = 1.0f;
      const float* cbi = cb + (g * T + t) * Q;
      for (int64_t j = 0; j <= i; ++j) {
        const float wj = cbi[j] * L[j] * dt[(c0 + j) * d.heads];
        const float* xj = cv.x(c0 + j, h);
        for (int64_t p = 0; p < d.P; ++p) yt[p] += wj * xj[p];
      }
    }
    // Advance the state over the whole chunk: S = exp(sum a) S + sum_j exp(cum_end - cum_j) dt_j x_j B_j^T.
    const float total = cum[q - 1];
    const float chunk_decay = std::exp(total);
    for (int64_t i = 0; i < d.P * d.N; ++i) S[i] *= chunk_decay;
    for (int64_t j = 0; j < q; ++j) {
      const float wj = L[j] * dt[(c0 + j) * d.heads];  // L now holds row q-1: exp(cum_end - cum_j)
      const float* xj = cv.x(c0 + j, h);
      const float* Bj = cv.B(c0 + j, g);
      for (int64_t p = 0; p < d.P; ++p) {
        const float s = wj * xj[p];
        float* Sp = S + p * d.N;
        for (int64_t n = 0; n < d.N; ++n) Sp[n] += s * Bj[n];
      }
    }
  }
}

}  // namespace

void mamba2(NemotronH& m, const MambaWeights& w, LayerState& s, int64_t pos, const float* x, int64_t T,
            float* out) {
  const ModelConfig& c = m.config();
  const Dims d(c);
  std::vector<float> zx(static_cast<size_t>(T * d.in_out));
  matmul(m.pool(), w.in_proj, x, T, zx.data(), d.in_out, w.in_proj_bias.empty() ? nullptr : w.in_proj_bias.data());

  // Causal depthwise conv over [conv state (K-1 rows) | this batch's xBC rows], then SiLU.
  const int64_t K = d.K, CD = d.conv_dim;
  std::vector<float> buf(static_cast<size_t>((K - 1 + T) * CD));
  std::copy(s.conv.begin(), s.conv.end(), buf.begin());
  for (int64_t t = 0; t < T; ++t)
    std::copy_n(&zx[t * d.in_out + d.d_inner], CD, &buf[(K - 1 + t) * CD]);
  std::vector<float> conv(static_cast<size_t>(T * CD));
  m.pool().run(T, [&](int64_t t) {
    float* o = &conv[t * CD];
    std::copy_n(w.conv_b.data(), CD, o);
    for (int64_t k = 0; k < K; ++k) {
      const float* wk = &w.conv_w[k * CD];
      const float* in = &buf[(t + k) * CD];
      for (int64_t ch = 0; ch < CD; ++ch) o[ch] += wk[ch] * in[ch];
    }
    for (int64_t ch = 0; ch < CD; ++ch) o[ch] = silu(o[ch]);
  });
  std::copy(buf.end() - static_cast<std::ptrdiff_t>(s.conv.size()), buf.end(), s.conv.begin());

  // dt = softplus(dt_raw + dt_bias), limited to time_step_limit ((0, inf) by default: no-op),
  // as NVIDIA's kernels and vLLM do. transformers 5.17 instead clamps at time_step_min in its
  // prefill path and not in its cached one-token step; DtClamp::kTransformers reproduces that.
  double lo = c.time_step_limit[0], hi = c.time_step_limit[1];
  const bool cached_step = pos > 0 && T == 1;
  if (m.options().dt_clamp == DtClamp::kTransformers && !cached_step) lo = std::max(lo, c.time_step_min);
  std::vector<float> dt(static_cast<size_t>(T * d.heads));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < d.heads; ++h) {
      const double v = softplus(zx[t * d.in_out + d.d_inner + CD + h] + w.dt_bias[h]);
      dt[t * d.heads + h] = static_cast<float>(std::min(hi, std::max(lo, v)));
    }

  std::vector<float> y(static_cast<size_t>(T * d.d_inner));
  const ConvRows cv{conv.data(), d};
  const int64_t state_per_head = d.P * d.N;
  const std::vector<float> cb = T == 1 ? std::vector<float>() : chunk_cb(m.pool(), d, cv, T, c.chunk_size);
  m.pool().run(d.heads, [&](int64_t h) {
    float* S = s.ssm.data() + h * state_per_head;
    if (T == 1) ssm_step(d, cv, h, dt[h], w.A[h], w.D[h], S, &y[h * d.P]);
    else ssd_chunked(d, cv, cb.data(), T, c.chunk_size, h, &dt[h], w.A[h], w.D[h], S, &y[h * d.P], d.d_inner);
  });

  // Gated RMSNorm: u = y * silu(z), normalised per group of d_inner/G channels (all heads of a
  // B/C group), then scaled by the norm weight.
  const int64_t gs = d.d_inner / d.G;
  const float eps = static_cast<float>(c.layer_norm_epsilon);
  m.pool().run(T, [&](int64_t t) {
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
  matmul(m.pool(), w.out_proj, y.data(), T, out, c.hidden_size,
         w.out_proj_bias.empty() ? nullptr : w.out_proj_bias.data());
}

}  // namespace nagent::engine::blocks
