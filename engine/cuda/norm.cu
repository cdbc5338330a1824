// RMSNorm (+ fused residual add) and Mamba's gated grouped RMSNorm: one block per row (group),
// sum of squares in fp32 by a block reduction.
#include "engine/cuda/common.cuh"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/kernels.h"

namespace nagent::engine::cuda {

namespace {

constexpr int kThreads = 256;

// With delta: h += delta first (the residual), and the norm reads the sum.
__global__ void rms_norm_kernel(float* h, const float* delta, const float* w, int64_t H, float eps, float* y) {
  float* x = h + blockIdx.x * H;
  float ss = 0.0f;
  for (int64_t i = threadIdx.x; i < H; i += blockDim.x) {
    float v = x[i];
    if (delta) {
      v += delta[blockIdx.x * H + i];
      x[i] = v;
    }
    ss += v * v;
  }
  const float r = rsqrtf(block_sum(ss) / static_cast<float>(H) + eps);
  for (int64_t i = threadIdx.x; i < H; i += blockDim.x) y[blockIdx.x * H + i] = w[i] * (x[i] * r);
}

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
  rms_norm_kernel<<<T, kThreads, 0, stream>>>(const_cast<float*>(x), nullptr, w, H, eps, y);
  NAGENT_LAUNCH_CHECK();
}

void add_rms_norm(float* h, const float* delta, const float* w, int64_t T, int64_t H, float eps, float* y,
                  cudaStream_t stream) {
  if (T == 0) return;
  rms_norm_kernel<<<T, kThreads, 0, stream>>>(h, delta, w, H, eps, y);
  NAGENT_LAUNCH_CHECK();
}

void gated_group_rms_norm(float* y, const float* z, int64_t ldz, const float* w, int64_t T, int64_t D, int64_t G,
                          float eps, cudaStream_t stream) {
  if (T == 0) return;
  gated_norm_kernel<<<dim3(G, T), kThreads, 0, stream>>>(y, z, ldz, w, D, D / G, eps);
  NAGENT_LAUNCH_CHECK();
}

}  // namespace nagent::engine::cuda
