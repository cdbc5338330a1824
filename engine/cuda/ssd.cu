// Mamba-2's selective state-space model (SSD) on the GPU, fp32 throughout:
//  - ssd_step: the decode recurrence, a block per (head, 4 rows p of the state, sequence), a warp
//    per row (float4 over the state columns; the older block-per-head kernel when shapes are
//    unaligned). One sequence, or one token of each of many (batched decode, RowStates).
//  - ssd_chunked: prefill in chunks of Q tokens, as in the reference doc 1.8:
//      1. chunk_states: each chunk's own contribution to the state, sum_j exp(cum_end - cum_j)
//         dt_j x_j B_j^T, and the chunk's total decay;
//      2. state_passing: the state entering each chunk, sequentially over chunks;
//      3. chunk_output: Y = exp(cum_i) C_i S_in + sum_{j<=i} (C_i.B_j) exp(cum_i-cum_j) dt_j x_j + D x_i.
//    Blocks are (chunk, head) pairs; tiles of 32 along the reduced dimension go through shared memory.
#include <algorithm>

#include "engine/cuda/common.cuh"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/kernels.h"

namespace nagent::engine::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kMaxQ = 128;
constexpr int kTile = 32;
constexpr int kPad = kTile + 1;      // shared rows padded against bank conflicts
constexpr int kStateOut = 32;        // state outputs per thread: P*N <= 8192
constexpr int kMOut = kMaxQ * kMaxQ / kThreads;  // 64
constexpr int kYOut = 32;            // Q*P <= 8192

struct Views {
  const float* conv;
  MambaDims d;
  __device__ const float* x(int64_t t, int h) const { return conv + t * d.conv_dim + h * d.P; }
  __device__ const float* B(int64_t t, int g) const { return conv + t * d.conv_dim + d.d_inner + g * d.N; }
  __device__ const float* C(int64_t t, int g) const {
    return conv + t * d.conv_dim + d.d_inner + d.G * d.N + g * d.N;
  }
};

// Block (head, 1, row): the row's sequence, a warp per row p of the head's state.
__global__ void step_kernel(Views v, const float* dt, const float* A, const float* Dv, RowStates ssm, float* y) {
  const MambaDims& d = v.d;
  const int64_t row = blockIdx.z;
  const int h = blockIdx.x, g = h / (d.heads / d.G);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  const float dth = dt[row * d.heads + h], decay = expf(dth * A[h]);
  const float* x = v.x(row, h);
  const float* B = v.B(row, g);
  const float* C = v.C(row, g);
  float* S = row_state(ssm, row) + static_cast<int64_t>(h) * d.P * d.N;
  float* yr = y + row * d.d_inner;
  for (int p = warp; p < d.P; p += warps) {
    const float xdt = x[p] * dth;
    float acc = 0.0f;
    for (int n = lane; n < d.N; n += 32) {
      const float s = decay * S[p * d.N + n] + xdt * B[n];
      S[p * d.N + n] = s;
      acc += s * C[n];
    }
    acc = warp_sum(acc);
    if (lane == 0) yr[h * d.P + p] = acc + Dv[h] * x[p];
  }
}

// The decode step with more parallelism: block (head, 4 rows of P, row), a warp per state row
// p, each lane 4 consecutive state columns through float4 (N and d_inner multiples of 4,
// aligned buffers).
constexpr int kStepRows = 4;
__global__ void __launch_bounds__(32 * kStepRows) step4_kernel(Views v, const float* dt, const float* A,
                                                               const float* Dv, RowStates ssm, float* y) {
  const MambaDims& d = v.d;
  const int64_t row = blockIdx.z;
  const int h = blockIdx.x, g = h / (d.heads / d.G);
  const int lane = threadIdx.x & 31, p = blockIdx.y * kStepRows + (threadIdx.x >> 5);
  if (p >= d.P) return;
  const float dth = dt[row * d.heads + h], decay = expf(dth * A[h]);
  const float xp = v.x(row, h)[p];
  const float xdt = xp * dth;
  const float4* B = reinterpret_cast<const float4*>(v.B(row, g));
  const float4* C = reinterpret_cast<const float4*>(v.C(row, g));
  float4* S = reinterpret_cast<float4*>(row_state(ssm, row) + (static_cast<int64_t>(h) * d.P + p) * d.N);
  float acc = 0.0f;
  for (int n = lane; n < d.N / 4; n += 32) {
    float4 s = S[n];
    const float4 b = B[n], c = C[n];
    s.x = decay * s.x + xdt * b.x;
    s.y = decay * s.y + xdt * b.y;
    s.z = decay * s.z + xdt * b.z;
    s.w = decay * s.w + xdt * b.w;
    S[n] = s;
    acc += s.x * c.x + s.y * c.y + s.z * c.z + s.w * c.w;
  }
  acc = warp_sum(acc);
  if (lane == 0) y[row * d.d_inner + h * d.P + p] = acc + Dv[h] * xp;
}

// Serial prefix sum of a = dt A over the chunk's q tokens (q <= 128: cheap next to the rest).
__device__ void chunk_cumsum(const float* dt, int heads, int64_t c0, int q, int h, float A, float* cum, float* dts) {
  if (threadIdx.x == 0) {
    float run = 0.0f;
    for (int i = 0; i < q; ++i) {
      const float dti = dt[(c0 + i) * heads + h];
      dts[i] = dti;
      cum[i] = (run += dti * A);
    }
  }
  __syncthreads();
}

__global__ void chunk_states_kernel(Views v, const float* dt, const float* A, int64_t T, int Q, float* states,
                                    float* totals) {
  const MambaDims& d = v.d;
  const int c = blockIdx.x, h = blockIdx.y, g = h / (d.heads / d.G);
  const int64_t c0 = static_cast<int64_t>(c) * Q;
  const int q = static_cast<int>(min64(Q, T - c0));
  __shared__ float cum[kMaxQ], dts[kMaxQ], wj[kMaxQ];
  extern __shared__ float smem[];
  float* xs = smem;                 // [kTile][P]
  float* bs = smem + kTile * d.P;   // [kTile][N]
  chunk_cumsum(dt, d.heads, c0, q, h, A[h], cum, dts);
  for (int j = threadIdx.x; j < q; j += blockDim.x) wj[j] = expf(cum[q - 1] - cum[j]) * dts[j];
  const int PN = d.P * d.N;
  float acc[kStateOut];
#pragma unroll
  for (int r = 0; r < kStateOut; ++r) acc[r] = 0.0f;
  for (int j0 = 0; j0 < q; j0 += kTile) {
    __syncthreads();
    for (int i = threadIdx.x; i < kTile * d.P; i += blockDim.x) {
      const int jj = i / d.P, p = i % d.P, j = j0 + jj;
      xs[i] = j < q ? v.x(c0 + j, h)[p] * wj[j] : 0.0f;
    }
    for (int i = threadIdx.x; i < kTile * d.N; i += blockDim.x) {
      const int jj = i / d.N, n = i % d.N, j = j0 + jj;
      bs[i] = j < q ? v.B(c0 + j, g)[n] : 0.0f;
    }
    __syncthreads();
    const int jn = min(kTile, q - j0);
    for (int jj = 0; jj < jn; ++jj) {
#pragma unroll
      for (int r = 0; r < kStateOut; ++r) {
        const int o = threadIdx.x + r * kThreads;
        if (o < PN) acc[r] += xs[jj * d.P + o / d.N] * bs[jj * d.N + o % d.N];
      }
    }
  }
  float* out = states + (static_cast<int64_t>(c) * d.heads + h) * PN;
#pragma unroll
  for (int r = 0; r < kStateOut; ++r) {
    const int o = threadIdx.x + r * kThreads;
    if (o < PN) out[o] = acc[r];
  }
  if (threadIdx.x == 0) totals[static_cast<int64_t>(c) * d.heads + h] = cum[q - 1];
}

// Replaces each chunk's contribution by the state entering the chunk; ssm becomes the final state.
__global__ void state_passing_kernel(MambaDims d, int chunks, float* states, const float* totals, float* ssm) {
  const int h = blockIdx.x;
  const int PN = d.P * d.N;
  const int idx = blockIdx.y * blockDim.x + threadIdx.x;
  if (idx >= PN) return;
  float S = ssm[static_cast<int64_t>(h) * PN + idx];
  for (int c = 0; c < chunks; ++c) {
    float* slot = states + (static_cast<int64_t>(c) * d.heads + h) * PN + idx;
    const float contribution = *slot;
    *slot = S;
    S = expf(totals[static_cast<int64_t>(c) * d.heads + h]) * S + contribution;
  }
  ssm[static_cast<int64_t>(h) * PN + idx] = S;
}

__global__ void chunk_output_kernel(Views v, const float* dt, const float* A, const float* Dv, int64_t T, int Q,
                                    const float* states, float* y) {
  const MambaDims& d = v.d;
  const int c = blockIdx.x, h = blockIdx.y, g = h / (d.heads / d.G);
  const int64_t c0 = static_cast<int64_t>(c) * Q;
  const int q = static_cast<int>(min64(Q, T - c0));
  __shared__ float cum[kMaxQ], dts[kMaxQ];
  extern __shared__ float smem[];
  float* M = smem;                      // [q][q + 1]
  float* t0 = smem + q * (q + 1);       // tiles
  chunk_cumsum(dt, d.heads, c0, q, h, A[h], cum, dts);

  // M[i][j] = (C_i . B_j) exp(cum_i - cum_j) dt_j for j <= i, else 0.
  {
    float* cs = t0;              // [q][kPad]
    float* bs = t0 + q * kPad;   // [q][kPad]
    float acc[kMOut];
#pragma unroll
    for (int r = 0; r < kMOut; ++r) acc[r] = 0.0f;
    for (int n0 = 0; n0 < d.N; n0 += kTile) {
      __syncthreads();
      for (int i = threadIdx.x; i < q * kTile; i += blockDim.x) {
        const int row = i / kTile, nn = i % kTile, n = n0 + nn;
        cs[row * kPad + nn] = n < d.N ? v.C(c0 + row, g)[n] : 0.0f;
        bs[row * kPad + nn] = n < d.N ? v.B(c0 + row, g)[n] : 0.0f;
      }
      __syncthreads();
#pragma unroll
      for (int r = 0; r < kMOut; ++r) {
        const int o = threadIdx.x + r * kThreads;
        if (o < q * q) {
          const int i = o / q, j = o % q;
          if (j <= i) {
            float s = 0.0f;
#pragma unroll 8
            for (int nn = 0; nn < kTile; ++nn) s += cs[i * kPad + nn] * bs[j * kPad + nn];
            acc[r] += s;
          }
        }
      }
    }
#pragma unroll
    for (int r = 0; r < kMOut; ++r) {
      const int o = threadIdx.x + r * kThreads;
      if (o < q * q) {
        const int i = o / q, j = o % q;
        M[i * (q + 1) + j] = j <= i ? acc[r] * expf(cum[i] - cum[j]) * dts[j] : 0.0f;
      }
    }
  }

  const int QP = q * d.P;
  float acc[kYOut];
#pragma unroll
  for (int r = 0; r < kYOut; ++r) acc[r] = 0.0f;
  // Y_off: the state entering the chunk read through C_i, decayed to i.
  {
    const float* S = states + (static_cast<int64_t>(c) * d.heads + h) * d.P * d.N;
    float* cs = t0;              // [q][kPad]
    float* ss = t0 + q * kPad;   // [P][kPad]
    for (int n0 = 0; n0 < d.N; n0 += kTile) {
      __syncthreads();
      for (int i = threadIdx.x; i < q * kTile; i += blockDim.x) {
        const int row = i / kTile, nn = i % kTile, n = n0 + nn;
        cs[row * kPad + nn] = n < d.N ? v.C(c0 + row, g)[n] : 0.0f;
      }
      for (int i = threadIdx.x; i < d.P * kTile; i += blockDim.x) {
        const int p = i / kTile, nn = i % kTile, n = n0 + nn;
        ss[p * kPad + nn] = n < d.N ? S[p * d.N + n] : 0.0f;
      }
      __syncthreads();
#pragma unroll
      for (int r = 0; r < kYOut; ++r) {
        const int o = threadIdx.x + r * kThreads;
        if (o < QP) {
          const int i = o / d.P, p = o % d.P;
          float s = 0.0f;
#pragma unroll 8
          for (int nn = 0; nn < kTile; ++nn) s += cs[i * kPad + nn] * ss[p * kPad + nn];
          acc[r] += s;
        }
      }
    }
#pragma unroll
    for (int r = 0; r < kYOut; ++r) {
      const int o = threadIdx.x + r * kThreads;
      if (o < QP) acc[r] *= expf(cum[o / d.P]);
    }
  }
  // Y_diag: sum_j M[i][j] x_j.
  {
    float* xs = t0;  // [kTile][P]
    for (int j0 = 0; j0 < q; j0 += kTile) {
      __syncthreads();
      for (int i = threadIdx.x; i < kTile * d.P; i += blockDim.x) {
        const int jj = i / d.P, p = i % d.P, j = j0 + jj;
        xs[i] = j < q ? v.x(c0 + j, h)[p] : 0.0f;
      }
      __syncthreads();
      const int jn = min(kTile, q - j0);
#pragma unroll
      for (int r = 0; r < kYOut; ++r) {
        const int o = threadIdx.x + r * kThreads;
        if (o < QP) {
          const int i = o / d.P, p = o % d.P;
          const float* Mi = M + i * (q + 1) + j0;
          float s = 0.0f;
          for (int jj = 0; jj < jn; ++jj) s += Mi[jj] * xs[jj * d.P + p];
          acc[r] += s;
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kYOut; ++r) {
    const int o = threadIdx.x + r * kThreads;
    if (o < QP) {
      const int i = o / d.P, p = o % d.P;
      y[(c0 + i) * d.d_inner + h * d.P + p] = acc[r] + Dv[h] * v.x(c0 + i, h)[p];
    }
  }
}

size_t output_smem_bytes(int Q, const MambaDims& d) {
  const size_t tiles = std::max<size_t>({size_t(2) * Q * kPad, size_t(Q + d.P) * kPad, size_t(kTile) * d.P});
  return (size_t(Q) * (Q + 1) + tiles) * sizeof(float);
}

}  // namespace

const char* ssd_unsupported(int64_t Q, const MambaDims& d) {
  if (Q < 1 || Q > kMaxQ) return "chunk_size must be 1..128";
  if (d.P * d.N > kThreads * kStateOut) return "mamba_head_dim * ssm_state_size must be at most 8192";
  if (Q * d.P > kThreads * kYOut) return "chunk_size * mamba_head_dim must be at most 8192";
  if (d.P > 256 || d.P + d.N > 384) return "mamba_head_dim + ssm_state_size must be at most 384";
  return "";
}

void ssd_step(const float* conv, const float* dt, const float* A, const float* D, const MambaDims& d, int64_t rows,
              const RowStates& ssm, float* y, cudaStream_t stream) {
  if (rows == 0) return;
  // float4 rows: conv rows (conv_dim = d_inner + 2GN) and every row's state stay 16-byte aligned.
  const bool states_aligned =
      ssm.rows ? ssm.offset % 4 == 0 : (reinterpret_cast<uintptr_t>(ssm.one) & 15) == 0;
  const bool vec = d.N % 4 == 0 && d.d_inner % 4 == 0 && (reinterpret_cast<uintptr_t>(conv) & 15) == 0 &&
                   states_aligned;
  const unsigned z = static_cast<unsigned>(rows);
  if (vec)
    step4_kernel<<<dim3(d.heads, (d.P + kStepRows - 1) / kStepRows, z), 32 * kStepRows, 0, stream>>>(
        Views{conv, d}, dt, A, D, ssm, y);
  else
    step_kernel<<<dim3(d.heads, 1, z), kThreads, 0, stream>>>(Views{conv, d}, dt, A, D, ssm, y);
  NAGENT_LAUNCH_CHECK();
}

int64_t ssd_workspace_floats(int64_t T, int64_t Q, const MambaDims& d) {
  const int64_t chunks = (T + Q - 1) / Q;
  return chunks * d.heads * (int64_t(d.P) * d.N + 1);
}

void ssd_chunked(const float* conv, const float* dt, const float* A, const float* D, int64_t T, int64_t Q,
                 const MambaDims& d, float* ssm, float* y, float* workspace, cudaStream_t stream) {
  if (T == 0) return;
  static const bool configured = [] {
    NAGENT_CUDA_CHECK(cudaFuncSetAttribute(chunk_output_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 160 * 1024));
    return true;
  }();
  (void)configured;
  const int chunks = static_cast<int>((T + Q - 1) / Q);
  float* states = workspace;
  float* totals = workspace + int64_t(chunks) * d.heads * d.P * d.N;
  const Views v{conv, d};
  chunk_states_kernel<<<dim3(chunks, d.heads), kThreads, kTile * (d.P + d.N) * sizeof(float), stream>>>(
      v, dt, A, T, static_cast<int>(Q), states, totals);
  NAGENT_LAUNCH_CHECK();
  state_passing_kernel<<<dim3(d.heads, blocks_for(d.P * d.N, kThreads)), kThreads, 0, stream>>>(d, chunks, states,
                                                                                                totals, ssm);
  NAGENT_LAUNCH_CHECK();
  chunk_output_kernel<<<dim3(chunks, d.heads), kThreads, output_smem_bytes(static_cast<int>(Q), d), stream>>>(
      v, dt, A, D, T, static_cast<int>(Q), states, y);
  NAGENT_LAUNCH_CHECK();
}

}  // namespace nagent::engine::cuda
