// Mamba-2's selective state-space model (SSD) on the GPU, fp32 throughout:
//  - ssd_step: the decode recurrence, a block per (head, 4 rows p of the state, sequence), a warp
//    per row (float4 over the state columns; the older block-per-head kernel when shapes are
//    unaligned). One sequence, or one token of each of many (batched decode, RowStates).
//  - ssd_chunked: prefill in chunks of Q tokens, as in the reference doc 1.8:
//      1. chunk_states: each chunk's own contribution to the state, sum_j exp(cum_end - cum_j)
//         dt_j x_j B_j^T, and the chunk's total decay;
//      2. state_passing: the state entering each chunk, sequentially over chunks;
//      3. chunk_output: Y = exp(cum_i) C_i S_in + sum_{j<=i} (C_i.B_j) exp(cum_i-cum_j) dt_j x_j + D x_i.
//    Blocks are (chunk, head) pairs; the products are register-tiled fp32 GEMMs over operands
//    staged k-major in shared memory (outer_accumulate).
#include <algorithm>

#include "engine/cuda/common.cuh"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/kernels.h"
#include "engine/cuda/per_device_once.h"

namespace nagent::engine::cuda {

namespace {

constexpr int kThreads = 256;
// Prefill limits: chunk_size, mamba_head_dim and ssm_state_size (every published NemotronH
// config: 128, 64, 128).
constexpr int kMaxQ = 128, kMaxP = 64, kMaxN = 128;

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

// The chunk's cumulative log-decay cum[i] = sum_{j<=i} dt_j A over its q tokens (q <= 128) by
// warp scans, and its dt values; rows past q read as 0.
__device__ void chunk_cumsum(const float* dt, int heads, int64_t c0, int q, int h, float A, float* cum, float* dts) {
  __shared__ float warp_total[kMaxQ / 32];
  const int i = threadIdx.x, lane = i & 31, warp = i >> 5;
  const float dti = i < q ? dt[(c0 + i) * heads + h] : 0.0f;
  float a = dti * A;
#pragma unroll
  for (int off = 1; off < 32; off *= 2) {
    const float n = __shfl_up_sync(0xffffffffu, a, off);
    if (lane >= off) a += n;
  }
  if (i < kMaxQ && lane == 31) warp_total[warp] = a;
  __syncthreads();
  if (i < kMaxQ) {
    for (int w = 0; w < warp; ++w) a += warp_total[w];
    cum[i] = i < q ? a : 0.0f;
    dts[i] = dti;
  }
  __syncthreads();
}

// The chunk products are small GEMMs (64 x 128, 128 x 128 and 128 x 64 outputs, k <= 128) done
// as register-tiled outer products from shared memory: acc[TM][TN] += sum_k A[k][row] B[k][col]
// with A and B stored k-major. Thread (ty, tx) = (threadIdx.x / 16, threadIdx.x % 16) owns rows
// tile_row(i) and columns tile_col(j), 4 consecutive ones per float4, the groups 64 apart: a
// warp's reads of A are two broadcasts, of B 64 consecutive floats. Shapes smaller than the
// tile are zero-padded in shared memory (outputs past them are not stored).
__device__ __forceinline__ int tile_row(int i) { return 64 * (i / 4) + 4 * (threadIdx.x >> 4) + i % 4; }
__device__ __forceinline__ int tile_col(int j) { return 64 * (j / 4) + 4 * (threadIdx.x & 15) + j % 4; }

template <int TM, int TN>
__device__ __forceinline__ void outer_accumulate(const float* A, int lda, const float* B, int ldb, int k_count,
                                                 float (&acc)[TM][TN]) {
  const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
#pragma unroll 4
  for (int k = 0; k < k_count; ++k) {
    float a[TM], b[TN];
#pragma unroll
    for (int s = 0; s < TM / 4; ++s) {
      const float4 v = *reinterpret_cast<const float4*>(A + k * lda + 64 * s + 4 * ty);
      a[4 * s] = v.x, a[4 * s + 1] = v.y, a[4 * s + 2] = v.z, a[4 * s + 3] = v.w;
    }
#pragma unroll
    for (int s = 0; s < TN / 4; ++s) {
      const float4 v = *reinterpret_cast<const float4*>(B + k * ldb + 64 * s + 4 * tx);
      b[4 * s] = v.x, b[4 * s + 1] = v.y, b[4 * s + 2] = v.z, b[4 * s + 3] = v.w;
    }
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
  }
}

// Shared-memory rows: k tiles of kKT, rows padded to keep float4 alignment.
constexpr int kKT = 32;
constexpr int kLdQ = kMaxQ + 4, kLdP = kMaxP + 4, kLdN = kMaxN + 4;

// Block (chunk, head): S_chunk[p][n] = sum_j x_j[p] w_j B_j[n], w_j = exp(cum_end - cum_j) dt_j.
__global__ void __launch_bounds__(kThreads) chunk_states_kernel(Views v, const float* dt, const float* A, int64_t T,
                                                                int Q, float* states, float* totals) {
  const MambaDims& d = v.d;
  const int c = blockIdx.x, h = blockIdx.y, g = h / (d.heads / d.G);
  const int64_t c0 = static_cast<int64_t>(c) * Q;
  const int q = static_cast<int>(min64(Q, T - c0));
  __shared__ float cum[kMaxQ], dts[kMaxQ], wj[kMaxQ];
  __shared__ __align__(16) float xs[kKT * kLdP];  // [j][p]: x_j[p] w_j
  __shared__ __align__(16) float bs[kKT * kLdN];  // [j][n]: B_j[n]
  chunk_cumsum(dt, d.heads, c0, q, h, A[h], cum, dts);
  if (threadIdx.x < kMaxQ) wj[threadIdx.x] = threadIdx.x < q ? expf(cum[q - 1] - cum[threadIdx.x]) * dts[threadIdx.x] : 0.0f;
  float acc[4][8] = {};
  for (int j0 = 0; j0 < q; j0 += kKT) {
    __syncthreads();
    for (int i = threadIdx.x; i < kKT * kMaxP; i += kThreads) {
      const int jj = i / kMaxP, p = i % kMaxP, j = j0 + jj;
      xs[jj * kLdP + p] = j < q && p < d.P ? v.x(c0 + j, h)[p] * wj[j] : 0.0f;
    }
    for (int i = threadIdx.x; i < kKT * kMaxN; i += kThreads) {
      const int jj = i / kMaxN, n = i % kMaxN, j = j0 + jj;
      bs[jj * kLdN + n] = j < q && n < d.N ? v.B(c0 + j, g)[n] : 0.0f;
    }
    __syncthreads();
    outer_accumulate(xs, kLdP, bs, kLdN, min(kKT, q - j0), acc);
  }
  float* out = states + (static_cast<int64_t>(c) * d.heads + h) * d.P * d.N;
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int p = tile_row(i), n = tile_col(j);
      if (p < d.P && n < d.N) out[p * d.N + n] = acc[i][j];
    }
  if (threadIdx.x == 0) totals[static_cast<int64_t>(c) * d.heads + h] = cum[q - 1];
}

// Replaces each chunk's contribution by the state entering the chunk; ssm becomes the final state.
// The chain over chunks is serial in S only: the loads of kAhead chunks are issued together.
__global__ void state_passing_kernel(MambaDims d, int chunks, float* __restrict__ states,
                                     const float* __restrict__ totals, float* __restrict__ ssm) {
  constexpr int kAhead = 8;
  const int h = blockIdx.x;
  const int PN = d.P * d.N;
  const int idx = blockIdx.y * blockDim.x + threadIdx.x;
  if (idx >= PN) return;
  const int64_t chunk_stride = int64_t(d.heads) * PN;
  float* slots = states + int64_t(h) * PN + idx;
  float S = ssm[static_cast<int64_t>(h) * PN + idx];
  for (int c0 = 0; c0 < chunks; c0 += kAhead) {
    float contribution[kAhead], total[kAhead];
#pragma unroll
    for (int u = 0; u < kAhead; ++u) {
      const int c = c0 + u;
      contribution[u] = c < chunks ? slots[c * chunk_stride] : 0.0f;
      total[u] = c < chunks ? totals[static_cast<int64_t>(c) * d.heads + h] : 0.0f;
    }
#pragma unroll
    for (int u = 0; u < kAhead; ++u) {
      if (c0 + u >= chunks) break;
      slots[(c0 + u) * chunk_stride] = S;
      S = expf(total[u]) * S + contribution[u];
    }
  }
  ssm[static_cast<int64_t>(h) * PN + idx] = S;
}

// Loads rows [0, kMaxQ) x columns [n0, n0 + kKT) of a chunk's B or C into t[n][row] (transposed).
template <typename Row>
__device__ __forceinline__ void load_transposed(float* t, Row row_ptr, int q, int n0, int N) {
  for (int i = threadIdx.x; i < kMaxQ * kKT; i += kThreads) {
    const int row = i / kKT, nn = i % kKT, n = n0 + nn;
    t[nn * kLdQ + row] = row < q && n < N ? row_ptr(row)[n] : 0.0f;
  }
}

constexpr int kOutputSmemFloats = kMaxQ * kLdQ + 2 * kKT * kLdQ;

// Block (chunk, head): Y_i = exp(cum_i) C_i S_in + sum_{j<=i} M[i][j] x_j + D x_i with
// M[i][j] = (C_i . B_j) exp(cum_i - cum_j) dt_j, in three products: C B^T (kept as M^T in shared
// memory), C S_in^T, M x.
__global__ void __launch_bounds__(kThreads, 2) chunk_output_kernel(Views v, const float* dt, const float* A,
                                                                   const float* Dv, int64_t T, int Q,
                                                                   const float* states, float* y) {
  const MambaDims& d = v.d;
  const int c = blockIdx.x, h = blockIdx.y, g = h / (d.heads / d.G);
  const int64_t c0 = static_cast<int64_t>(c) * Q;
  const int q = static_cast<int>(min64(Q, T - c0));
  __shared__ float cum[kMaxQ], dts[kMaxQ];
  extern __shared__ __align__(16) float smem[];
  float* Mt = smem;                         // [j][i] = M[i][j]
  float* ct = smem + kMaxQ * kLdQ;          // [n][i] = C_i[n]
  float* t1 = ct + kKT * kLdQ;              // [n][j] = B_j[n], then [n][p] = S_in[p][n], then [j][p] = x_j[p]
  const auto Crow = [&](int i) { return v.C(c0 + i, g); };
  const auto Brow = [&](int i) { return v.B(c0 + i, g); };
  chunk_cumsum(dt, d.heads, c0, q, h, A[h], cum, dts);
  {
    float cb[8][8] = {};
    for (int n0 = 0; n0 < d.N; n0 += kKT) {
      __syncthreads();
      load_transposed(ct, Crow, q, n0, d.N);
      load_transposed(t1, Brow, q, n0, d.N);
      __syncthreads();
      outer_accumulate(ct, kLdQ, t1, kLdQ, min(kKT, d.N - n0), cb);
    }
#pragma unroll
    for (int a = 0; a < 8; ++a)
#pragma unroll
      for (int b = 0; b < 8; ++b) {
        const int i = tile_row(a), j = tile_col(b);
        Mt[j * kLdQ + i] = j <= i && i < q ? cb[a][b] * expf(cum[i] - cum[j]) * dts[j] : 0.0f;
      }
  }
  float acc[8][4] = {};  // rows i, columns p
  const float* S = states + (static_cast<int64_t>(c) * d.heads + h) * d.P * d.N;
  for (int n0 = 0; n0 < d.N; n0 += kKT) {
    __syncthreads();
    load_transposed(ct, Crow, q, n0, d.N);
    for (int i = threadIdx.x; i < kMaxP * kKT; i += kThreads) {
      const int p = i / kKT, nn = i % kKT, n = n0 + nn;
      t1[nn * kLdP + p] = p < d.P && n < d.N ? S[p * d.N + n] : 0.0f;
    }
    __syncthreads();
    outer_accumulate(ct, kLdQ, t1, kLdP, min(kKT, d.N - n0), acc);
  }
#pragma unroll
  for (int a = 0; a < 8; ++a) {
    const float decay = expf(cum[tile_row(a)]);  // cum is 0 past q: finite
#pragma unroll
    for (int b = 0; b < 4; ++b) acc[a][b] *= decay;
  }
  for (int j0 = 0; j0 < q; j0 += kKT) {
    __syncthreads();
    for (int i = threadIdx.x; i < kKT * kMaxP; i += kThreads) {
      const int jj = i / kMaxP, p = i % kMaxP, j = j0 + jj;
      t1[jj * kLdP + p] = j < q && p < d.P ? v.x(c0 + j, h)[p] : 0.0f;
    }
    __syncthreads();
    outer_accumulate(Mt + j0 * kLdQ, kLdQ, t1, kLdP, min(kKT, q - j0), acc);
  }
#pragma unroll
  for (int a = 0; a < 8; ++a)
#pragma unroll
    for (int b = 0; b < 4; ++b) {
      const int i = tile_row(a), p = tile_col(b);
      if (i < q && p < d.P) y[(c0 + i) * d.d_inner + h * d.P + p] = acc[a][b] + Dv[h] * v.x(c0 + i, h)[p];
    }
}

}  // namespace

const char* ssd_unsupported(int64_t Q, const MambaDims& d) {
  if (Q < 1 || Q > kMaxQ) return "chunk_size must be 1..128";
  if (d.P < 1 || d.P > kMaxP) return "mamba_head_dim must be 1..64";
  if (d.N < 1 || d.N > kMaxN) return "ssm_state_size must be 1..128";
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
  static PerDeviceOnce configured;
  configured.run([] {
    NAGENT_CUDA_CHECK(cudaFuncSetAttribute(chunk_output_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           kOutputSmemFloats * sizeof(float)));
  });
  const int chunks = static_cast<int>((T + Q - 1) / Q);
  float* states = workspace;
  float* totals = workspace + int64_t(chunks) * d.heads * d.P * d.N;
  const Views v{conv, d};
  chunk_states_kernel<<<dim3(chunks, d.heads), kThreads, 0, stream>>>(
      v, dt, A, T, static_cast<int>(Q), states, totals);
  NAGENT_LAUNCH_CHECK();
  state_passing_kernel<<<dim3(d.heads, blocks_for(d.P * d.N, kThreads)), kThreads, 0, stream>>>(d, chunks, states,
                                                                                                totals, ssm);
  NAGENT_LAUNCH_CHECK();
  chunk_output_kernel<<<dim3(chunks, d.heads), kThreads, kOutputSmemFloats * sizeof(float), stream>>>(
      v, dt, A, D, T, static_cast<int>(Q), states, y);
  NAGENT_LAUNCH_CHECK();
}

}  // namespace nagent::engine::cuda
