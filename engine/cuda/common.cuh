// Device-side helpers shared by the kernels: warp and block reductions, bf16 loads.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "engine/cuda/kernels.h"

namespace nagent::engine::cuda {

__host__ __device__ __forceinline__ int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
__host__ __device__ __forceinline__ int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float partial[32];
  __shared__ float total;
  v = warp_sum(v);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();  // partial may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    float s = lane < (blockDim.x >> 5) ? partial[lane] : 0.0f;
    s = warp_sum(s);
    if (lane == 0) total = s;
  }
  __syncthreads();
  return total;
}

__device__ __forceinline__ float silu_f(float x) { return x / (1.0f + expf(-x)); }

// Lane `lane`'s share of dot(w[0, K), x[0, K)) with bf16 w and fp32 x: 16-byte loads of w
// (8 values) when K is a multiple of 8 and both rows are aligned, else one value at a time.
// The caller sums the 32 shares (warp_sum).
__device__ __forceinline__ float lane_dot_bf16(const __nv_bfloat16* w, const float* x, int64_t K, int lane) {
  float acc = 0.0f;
  if ((K & 7) == 0 && (reinterpret_cast<uintptr_t>(w) & 15) == 0 && (reinterpret_cast<uintptr_t>(x) & 15) == 0) {
    const uint4* w8 = reinterpret_cast<const uint4*>(w);
    const float4* x4 = reinterpret_cast<const float4*>(x);
#pragma unroll 4
    for (int64_t i = lane; i < K / 8; i += 32) {
      const uint4 raw = __ldg(w8 + i);
      const float4 xa = x4[2 * i], xb = x4[2 * i + 1];
      const __nv_bfloat162* p = reinterpret_cast<const __nv_bfloat162*>(&raw);
      const float2 w0 = __bfloat1622float2(p[0]), w1 = __bfloat1622float2(p[1]);
      const float2 w2 = __bfloat1622float2(p[2]), w3 = __bfloat1622float2(p[3]);
      acc += w0.x * xa.x + w0.y * xa.y + w1.x * xa.z + w1.y * xa.w;
      acc += w2.x * xb.x + w2.y * xb.y + w3.x * xb.z + w3.y * xb.w;
    }
  } else {
    for (int64_t i = lane; i < K; i += 32) acc += __bfloat162float(w[i]) * x[i];
  }
  return acc;
}

// Row r's recurrent state (kernels.h, RowStates).
__device__ __forceinline__ float* row_state(const RowStates& s, int64_t r) { return s.rows ? s.rows[r] + s.offset : s.one; }

inline int blocks_for(int64_t n, int threads) { return static_cast<int>((n + threads - 1) / threads); }

}  // namespace nagent::engine::cuda
