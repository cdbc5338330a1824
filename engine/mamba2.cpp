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

inline float dot(const float* a, const float* b, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

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

// T tokens in chunks of Q (reference doc 1.8, "Prefill"): within a chunk the output is an
// attention-like sum over earlier positions of the chunk (Y_diag) plus the carried state read
// through C (Y_off); the state is then advanced once per chunk. Equal to T recurrent steps up
// to rounding.
void ssd_chunked(const Dims& d, const ConvRows& cv, int64_t T, int64_t Q, int64_t h, const float* dt, float A,
                 float D, float* S, float* y, int64_t ldy) {
  const int64_t g = h / d.heads_per_group;
  std::vector<float> cum(static_cast<size_t>(Q)), cb(static_cast<size_t>(Q));
  for (int64_t c0 = 0; c0 < T; c0 += Q) {
    const int64_t q = std::min(Q, T - c0);
    float run = 0.0f;
    for (int64_t i = 0; i < q; ++i) cum[i] = (run += dt[(c0 + i) * d.heads] * A);
    for (int64_t i = 0; i < q; ++i) {
      const int64_t t = c0 + i;
      const float* C = cv.C(t, g);
      const float* x = cv.x(t, h);
      float* yt = y + t * ldy;
      // Y_off: the state carried into the chunk, decayed to position i, read through C_i.
      const float decay = std::exp(cum[i]);
      for (int64_t p = 0; p < d.P; ++p) yt[p] = decay * dot(S + p * d.N, C, d.N) + D * x[p];
      // Y_diag: positions j <= i of this chunk.
      for (int64_t j = 0; j <= i; ++j) cb[j] = dot(C, cv.B(c0 + j, g), d.N) * std::exp(cum[i] - cum[j]) *
                                               dt[(c0 + j) * d.heads];
      for (int64_t j = 0; j <= i; ++j) {
        const float* xj = cv.x(c0 + j, h);
        const float wj = cb[j];
        for (int64_t p = 0; p < d.P; ++p) yt[p] += wj * xj[p];
      }
    }
    // Advance the state over the whole chunk.
    const float total = cum[q - 1];
    const float chunk_decay = std::exp(total);
    for (int64_t i = 0; i < d.P * d.N; ++i) S[i] *= chunk_decay;
    for (int64_t j = 0; j < q; ++j) {
      const float wj = std::exp(total - cum[j]) * dt[(c0 + j) * d.heads];
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
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t ch = 0; ch < CD; ++ch) {
      float acc = w.conv_b[ch];
      for (int64_t k = 0; k < K; ++k) acc += w.conv_w[ch * K + k] * buf[(t + k) * CD + ch];
      conv[t * CD + ch] = silu(acc);
    }
  }
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
  m.pool().run(d.heads, [&](int64_t h) {
    float* S = s.ssm.data() + h * state_per_head;
    if (T == 1) ssm_step(d, cv, h, dt[h], w.A[h], w.D[h], S, &y[h * d.P]);
    else ssd_chunked(d, cv, T, c.chunk_size, h, &dt[h], w.A[h], w.D[h], S, &y[h * d.P], d.d_inner);
  });

  // Gated RMSNorm: u = y * silu(z), normalised per group of d_inner/G channels (all heads of a
  // B/C group), then scaled by the norm weight.
  const int64_t gs = d.d_inner / d.G;
  const float eps = static_cast<float>(c.layer_norm_epsilon);
  for (int64_t t = 0; t < T; ++t) {
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
  }
  matmul(m.pool(), w.out_proj, y.data(), T, out, c.hidden_size,
         w.out_proj_bias.empty() ? nullptr : w.out_proj_bias.data());
}

}  // namespace nagent::engine::blocks
