// Mixture-of-experts pieces: routing (fp32 sigmoid router scores, correction bias for the
// choice only, group-limited top-k), routed-expert GEMV for decode (expert ids read on the
// device, no host round trip), token permutation into expert order for prefill's grouped
// GEMMs, and the weighted combine.
#include <cmath>

#include "engine/cuda/common.cuh"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/kernels.h"

namespace nagent::engine::cuda {

namespace {

constexpr int kMaxExperts = 512;
constexpr int kMaxK = 32;

// The index of the largest v[i] with usable[i] (ties: lower index), or -1.
__device__ int best_of(const float* v, const bool* usable, int n) {
  int best = -1;
  for (int i = 0; i < n; ++i)
    if (usable[i] && (best < 0 || v[i] > v[best])) best = i;
  return best;
}

// One thread per token, mirroring engine/moe.cpp's route().
__global__ void route_kernel(const float* logits, const float* bias, int64_t T, RouteConfig rc, int32_t* ids,
                             float* weights) {
  const int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (t >= T) return;
  const int E = rc.E;
  float score[kMaxExperts], choice[kMaxExperts];
  bool usable[kMaxExperts];
  for (int e = 0; e < E; ++e) {
    score[e] = 1.0f / (1.0f + expf(-logits[t * E + e]));
    choice[e] = score[e] + bias[e];
    usable[e] = true;
  }
  if (rc.n_group > 1) {
    const int per = E / rc.n_group;
    float gscore[kMaxExperts];
    bool gusable[kMaxExperts];
    for (int g = 0; g < rc.n_group; ++g) {
      const int a = g * per + best_of(choice + g * per, usable + g * per, per);
      usable[a] = false;
      const int b_local = best_of(choice + g * per, usable + g * per, per);
      usable[a] = true;
      gscore[g] = choice[a] + (b_local >= 0 ? choice[g * per + b_local] : 0.0f);
      gusable[g] = true;
    }
    bool kept[kMaxExperts];
    for (int g = 0; g < rc.n_group; ++g) kept[g] = false;
    for (int i = 0; i < rc.topk_group; ++i) {
      const int g = best_of(gscore, gusable, rc.n_group);
      gusable[g] = false;
      kept[g] = true;
    }
    for (int e = 0; e < E; ++e)
      if (!kept[e / per]) choice[e] = -INFINITY;
  }
  int chosen[kMaxK];
  float sum = 0.0f;
  for (int i = 0; i < rc.k; ++i) {
    chosen[i] = best_of(choice, usable, E);
    usable[chosen[i]] = false;
    sum += score[chosen[i]];
  }
  const float scale = rc.scaling / (rc.norm_topk ? sum + 1e-20f : 1.0f);
  for (int i = 0; i < rc.k; ++i) {
    ids[t * rc.k + i] = chosen[i];
    weights[t * rc.k + i] = score[chosen[i]] * scale;
  }
}

// Warp per (slot, output row), grid-stride.
__global__ void expert_gemv_kernel(const bf16* W, int64_t stride, const int32_t* ids, int64_t S, const float* x,
                                   int64_t ldx, int x_div, int64_t K, int64_t N, bool relu2, float* y) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x >> 5);
  for (int64_t w = blockIdx.x * int64_t(blockDim.x >> 5) + (threadIdx.x >> 5); w < S * N; w += warps) {
    const int64_t s = w / N, n = w % N;
    const bf16* row = W + ids[s] * stride + n * K;
    float acc = warp_sum(lane_dot_bf16(row, x + (s / x_div) * ldx, K, lane));
    if (relu2) {
      acc = fmaxf(acc, 0.0f);
      acc *= acc;
    }
    if (lane == 0) y[s * N + n] = acc;
  }
}

__global__ void gather_kernel(const float* x, int64_t L, const int32_t* rows, int64_t n, bf16* out) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= n * L) return;
  out[i] = __float2bfloat16(x[int64_t(rows[i / L]) * L + i % L]);
}

__global__ void combine_kernel(const float* ys, int64_t L, const int32_t* slot_row, const float* weights, int64_t T,
                               int k, float* out) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= T * L) return;
  const int64_t t = i / L, e = i % L;
  float acc = 0.0f;
  for (int j = 0; j < k; ++j) {
    const int64_t s = t * k + j;
    acc += weights[s] * ys[(slot_row ? slot_row[s] : s) * L + e];
  }
  out[i] = acc;
}

}  // namespace

void moe_route(const float* logits, const float* correction_bias, int64_t T, const RouteConfig& rc, int32_t* ids,
               float* weights, cudaStream_t stream) {
  if (rc.E > kMaxExperts || rc.k > kMaxK) throw std::invalid_argument("MoE routing: at most 512 experts, top-32");
  if (T == 0) return;
  route_kernel<<<blocks_for(T, 64), 64, 0, stream>>>(logits, correction_bias, T, rc, ids, weights);
  NAGENT_LAUNCH_CHECK();
}

void expert_gemv(const bf16* W, int64_t expert_stride, const int32_t* ids, int64_t S, const float* x, int64_t ldx,
                 int x_div, int64_t K, int64_t N, bool relu2, float* y, cudaStream_t stream) {
  if (S == 0) return;
  const int64_t warps = S * N;
  const int blocks = static_cast<int>(std::min<int64_t>((warps + 7) / 8, 132 * 16));
  expert_gemv_kernel<<<blocks, 256, 0, stream>>>(W, expert_stride, ids, S, x, ldx, x_div, K, N, relu2, y);
  NAGENT_LAUNCH_CHECK();
}

void gather_rows_bf16(const float* x, int64_t L, const int32_t* rows, int64_t n, bf16* out, cudaStream_t stream) {
  if (n == 0) return;
  gather_kernel<<<blocks_for(n * L, 256), 256, 0, stream>>>(x, L, rows, n, out);
  NAGENT_LAUNCH_CHECK();
}

void moe_combine(const float* ys, int64_t L, const int32_t* slot_row, const float* weights, int64_t T, int k,
                 float* out, cudaStream_t stream) {
  if (T == 0) return;
  combine_kernel<<<blocks_for(T * L, 256), 256, 0, stream>>>(ys, L, slot_row, weights, T, k, out);
  NAGENT_LAUNCH_CHECK();
}

}  // namespace nagent::engine::cuda
