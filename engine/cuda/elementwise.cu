// Elementwise kernels: embedding gather, residual add, dtype conversion, ReLU², bias.
#include <cuda_fp16.h>

#include <algorithm>

#include "engine/cuda/common.cuh"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/kernels.h"

namespace nagent::engine::cuda {

namespace {

__global__ void embed_kernel(const bf16* table, const int32_t* tokens, int64_t T, int64_t H, float* out) {
  const int64_t t = blockIdx.y;
  const bf16* row = table + static_cast<int64_t>(tokens[t]) * H;
  for (int64_t i = blockIdx.x * blockDim.x + threadIdx.x; i < H; i += gridDim.x * blockDim.x)
    out[t * H + i] = __bfloat162float(row[i]);
}

__global__ void advance_kernel(int32_t* pos, int n) { *pos += n; }

__global__ void add_kernel(float* h, const float* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    h[i] += y[i];
}

__global__ void to_bf16_kernel(const float* x, bf16* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = __float2bfloat16(x[i]);
}

__global__ void relu2_kernel(float* x, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const float r = fmaxf(x[i], 0.0f);
    x[i] = r * r;
  }
}

__global__ void bias_kernel(float* y, int64_t ldy, const float* bias, int64_t T, int64_t N) {
  const int64_t t = blockIdx.y;
  for (int64_t i = blockIdx.x * blockDim.x + threadIdx.x; i < N; i += gridDim.x * blockDim.x) y[t * ldy + i] += bias[i];
}

__global__ void convert_kernel(const void* src, int dtype, int64_t n, bf16* dst) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    if (dtype == 0) dst[i] = __float2bfloat16(static_cast<const float*>(src)[i]);
    else if (dtype == 1) dst[i] = __float2bfloat16(__half2float(static_cast<const __half*>(src)[i]));
    else dst[i] = static_cast<const bf16*>(src)[i];
  }
}

// splitmix64 of (seed, index): independent of the launch shape.
__device__ __forceinline__ float uniform01(uint64_t seed, uint64_t i) {
  uint64_t z = seed * 0x9e3779b97f4a7c15ull + i + 0x632be59bd9b4e019ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) * (1.0f / 16777216.0f);
}

__global__ void fill_bf16_kernel(bf16* dst, int64_t n, float scale, uint64_t seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = __float2bfloat16((2.0f * uniform01(seed, i) - 1.0f) * scale);
}

__global__ void fill_f32_kernel(float* dst, int64_t n, float lo, float hi, uint64_t seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = lo + (hi - lo) * uniform01(seed, i);
}

int grid_1d(int64_t n) { return static_cast<int>(std::min<int64_t>((n + 255) / 256, 65536)); }

}  // namespace

void embed(const bf16* table, const int32_t* tokens, int64_t T, int64_t H, float* out, cudaStream_t stream) {
  if (T == 0) return;
  embed_kernel<<<dim3(blocks_for(H, 256), T), 256, 0, stream>>>(table, tokens, T, H, out);
  NAGENT_LAUNCH_CHECK();
}

void convert_to_bf16(const void* src, int src_dtype, int64_t n, bf16* dst, cudaStream_t stream) {
  if (n == 0) return;
  convert_kernel<<<grid_1d(n), 256, 0, stream>>>(src, src_dtype, n, dst);
  NAGENT_LAUNCH_CHECK();
}

void fill_uniform_bf16(bf16* dst, int64_t n, float scale, uint64_t seed, cudaStream_t stream) {
  if (n == 0) return;
  fill_bf16_kernel<<<grid_1d(n), 256, 0, stream>>>(dst, n, scale, seed);
  NAGENT_LAUNCH_CHECK();
}

void fill_uniform_f32(float* dst, int64_t n, float lo, float hi, uint64_t seed, cudaStream_t stream) {
  if (n == 0) return;
  fill_f32_kernel<<<grid_1d(n), 256, 0, stream>>>(dst, n, lo, hi, seed);
  NAGENT_LAUNCH_CHECK();
}

void add_inplace(float* h, const float* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  add_kernel<<<grid_1d(n), 256, 0, stream>>>(h, y, n);
  NAGENT_LAUNCH_CHECK();
}

void to_bf16(const float* x, bf16* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  to_bf16_kernel<<<grid_1d(n), 256, 0, stream>>>(x, y, n);
  NAGENT_LAUNCH_CHECK();
}

void relu2_inplace(float* x, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  relu2_kernel<<<grid_1d(n), 256, 0, stream>>>(x, n);
  NAGENT_LAUNCH_CHECK();
}

void add_bias(float* y, int64_t ldy, const float* bias, int64_t T, int64_t N, cudaStream_t stream) {
  if (T == 0) return;
  bias_kernel<<<dim3(blocks_for(N, 256), T), 256, 0, stream>>>(y, ldy, bias, T, N);
  NAGENT_LAUNCH_CHECK();
}

void advance_position(int32_t* pos, int n, cudaStream_t stream) {
  advance_kernel<<<1, 1, 0, stream>>>(pos, n);
  NAGENT_LAUNCH_CHECK();
}

}  // namespace nagent::engine::cuda
