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

template <bool kRelu2>
__device__ __forceinline__ float to_bf16_act(float v) {
  if (kRelu2) {
    v = fmaxf(v, 0.0f);
    v *= v;
  }
  return v;
}

// Four values per thread and step when x is 16-byte and y 8-byte aligned (the workspace rows
// always are), else one; then the n % 4 tail.
template <bool kRelu2>
__global__ void to_bf16_kernel(const float* x, bf16* y, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x, tid = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  int64_t done = 0;
  if ((reinterpret_cast<uintptr_t>(x) & 15) == 0 && (reinterpret_cast<uintptr_t>(y) & 7) == 0) {
    done = n & ~int64_t(3);
    for (int64_t i = tid; i < done / 4; i += stride) {
      const float4 v = reinterpret_cast<const float4*>(x)[i];
      const __nv_bfloat162 lo = __floats2bfloat162_rn(to_bf16_act<kRelu2>(v.x), to_bf16_act<kRelu2>(v.y));
      const __nv_bfloat162 hi = __floats2bfloat162_rn(to_bf16_act<kRelu2>(v.z), to_bf16_act<kRelu2>(v.w));
      uint2 packed;
      packed.x = *reinterpret_cast<const uint32_t*>(&lo);
      packed.y = *reinterpret_cast<const uint32_t*>(&hi);
      reinterpret_cast<uint2*>(y)[i] = packed;
    }
  }
  for (int64_t i = done + tid; i < n; i += stride) y[i] = __float2bfloat16(to_bf16_act<kRelu2>(x[i]));
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
  to_bf16_kernel<false><<<grid_1d((n + 3) / 4), 256, 0, stream>>>(x, y, n);
  NAGENT_LAUNCH_CHECK();
}

void relu2_to_bf16(const float* x, bf16* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  to_bf16_kernel<true><<<grid_1d((n + 3) / 4), 256, 0, stream>>>(x, y, n);
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
