// RMSNorm (+ fused residual add) and Mamba's gated grouped RMSNorm: one block per row (group),
// sum of squares in fp32 by a block reduction.
#include <algorithm>

#include "engine/cuda/common.cuh"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/kernels.h"

namespace nagent::engine::cuda {

namespace {

constexpr int kPerThread = 4;  // values a thread loads at once: the loads of a pass are in flight together

// Threads for a row of n values: enough that one pass of kPerThread loads each covers the row
// (a decode step's norms are one row each, so the row's latency is the kernel's), 32..1024.
int threads_for(int64_t n) {
  const int64_t t = (n + kPerThread - 1) / kPerThread;
  return static_cast<int>(std::clamp<int64_t>((t + 31) / 32 * 32, 32, 1024));
}

// With delta: h += delta first (the residual), and the norm reads the sum. Restrict: h, delta,
// w and y never overlap, so the loads of a pass need not wait for the stores before them.
__global__ void rms_norm_kernel(float* __restrict__ h, const float* __restrict__ delta, const float* __restrict__ w,
                                int64_t H, float eps, float* __restrict__ y) {
  float* __restrict__ x = h + blockIdx.x * H;
  const float* __restrict__ d = delta ? delta + blockIdx.x * H : nullptr;
  float ss = 0.0f;
  for (int64_t base = 0; base < H; base += int64_t(kPerThread) * blockDim.x) {
    float v[kPerThread];
#pragma unroll
    for (int k = 0; k < kPerThread; ++k) {
      const int64_t i = base + threadIdx.x + int64_t(k) * blockDim.x;
      v[k] = i < H ? x[i] + (d ? d[i] : 0.0f) : 0.0f;
    }
#pragma unroll
    for (int k = 0; k < kPerThread; ++k) {
      const int64_t i = base + threadIdx.x + int64_t(k) * blockDim.x;
      if (d && i < H) x[i] = v[k];
      ss += v[k] * v[k];
    }
  }
  const float r = rsqrtf(block_sum(ss) / static_cast<float>(H) + eps);
#pragma unroll 4
  for (int64_t i = threadIdx.x; i < H; i += blockDim.x) y[blockIdx.x * H + i] = w[i] * (x[i] * r);
}

// One group per block: a group is small (Nemotron 3 Nano: 512 values), and 128 threads with
// unrolled loads measured slower here than 256 (ncu, session 6: 7.3 vs 4.8 us a call).
constexpr int kGroupThreads = 256;

__global__ void gated_norm_kernel(float* y, const float* z, int64_t ldz, const float* w, int64_t D, int64_t gs,
                                  float eps) {
  const int64_t t = blockIdx.y, g = blockIdx.x;
  float* u = y + t * D + g * gs;
  const float* zz = z + t * ldz + g * gs;
  float ss = 0.0f;
  for (int64_t i = threadIdx.x; i < gs; i += blockDim.x) {
    const float v = u[i] * silu_f(zz[i]);
    u[i] = v;
    ss += v * v;
  }
  const float r = rsqrtf(block_sum(ss) / static_cast<float>(gs) + eps);
  for (int64_t i = threadIdx.x; i < gs; i += blockDim.x) u[i] = w[g * gs + i] * (u[i] * r);
}

}  // namespace

void rms_norm(const float* x, const float* w, int64_t T, int64_t H, float eps, float* y, cudaStream_t stream) {
  if (T == 0) return;
  rms_norm_kernel<<<T, threads_for(H), 0, stream>>>(const_cast<float*>(x), nullptr, w, H, eps, y);
  NAGENT_LAUNCH_CHECK();
}

void add_rms_norm(float* h, const float* delta, const float* w, int64_t T, int64_t H, float eps, float* y,
                  cudaStream_t stream) {
  if (T == 0) return;
  rms_norm_kernel<<<T, threads_for(H), 0, stream>>>(h, delta, w, H, eps, y);
  NAGENT_LAUNCH_CHECK();
}

void gated_group_rms_norm(float* y, const float* z, int64_t ldz, const float* w, int64_t T, int64_t D, int64_t G,
                          float eps, cudaStream_t stream) {
  if (T == 0) return;
  gated_norm_kernel<<<dim3(G, T), kGroupThreads, 0, stream>>>(y, z, ldz, w, D, D / G, eps);
  NAGENT_LAUNCH_CHECK();
}

}  // namespace nagent::engine::cuda
