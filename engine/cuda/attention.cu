// GQA attention over the paged bf16 KV cache, fp32 softmax and accumulation:
//  - kv_append: the new tokens' keys and values into their pages.
//  - attention_prefill: flash-style: a block takes 32 queries of one head and walks 32-key tiles
//    of the cache with an online softmax, so no T x T score matrix exists.
// (attention_decode: attention_decode.cu.)
#include <algorithm>
#include <cmath>

#include "engine/cuda/attention_kv.cuh"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/kernels.h"

namespace nagent::engine::cuda {

namespace {

constexpr int kTile = 32;  // keys per tile, queries per block

__global__ void kv_append_kernel(const float* k, const float* v, int64_t T, int64_t pos, DecodeSeqs seqs, KvView kv) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= T * kv.kvd) return;
  const int64_t t = i / kv.kvd, e = i % kv.kvd;
  int64_t j = pos + t;
  if (seqs.pos) {  // row t: the next token of its own sequence
    j = seqs.pos[t];
    if (seqs.tables) kv.pages = seqs.tables[t];
  }
  kv_row(kv, j, 0)[e] = __float2bfloat16(k[i]);
  kv_row(kv, j, 1)[e] = __float2bfloat16(v[i]);
}

// Keys [j0, j0 + kTile) of kv head kvh into ks/vs ([kTile][hd + 1] fp32); past `keys`: zeros.
__device__ void load_kv_tile(const KvView& kv, int64_t j0, int64_t keys, int kvh, int hd, float* ks, float* vs) {
  for (int i = threadIdx.x; i < kTile * hd; i += blockDim.x) {
    const int jj = i / hd, e = i % hd;
    const int64_t j = j0 + jj;
    float kf = 0.0f, vf = 0.0f;
    if (j < keys) {
      kf = __bfloat162float(kv_row(kv, j, 0)[kvh * hd + e]);
      vf = __bfloat162float(kv_row(kv, j, 1)[kvh * hd + e]);
    }
    ks[jj * (hd + 1) + e] = kf;
    vs[jj * (hd + 1) + e] = vf;
  }
}

// 128 threads: thread (r = tid / 4, cg = tid % 4) scores keys cg*8.. cg*8+7 for query row r and
// owns output columns cg, cg + 4, ... of that row.
__global__ void prefill_kernel(const float* q, int64_t T, int64_t pos, int Hq, int Hkv, int hd, KvView kv,
                               float scale, float* out) {
  const int h = blockIdx.y, kvh = h / (Hq / Hkv);
  const int64_t t0 = int64_t(blockIdx.x) * kTile;
  const int r = threadIdx.x / 4, cg = threadIdx.x % 4;
  const int ld = hd + 1;
  extern __shared__ float smem[];
  float* qs = smem;                 // [kTile][ld]
  float* ks = qs + kTile * ld;
  float* vs = ks + kTile * ld;
  float* ps = vs + kTile * ld;      // [kTile][kTile + 1]
  for (int i = threadIdx.x; i < kTile * hd; i += blockDim.x) {
    const int rr = i / hd, e = i % hd;
    const int64_t t = t0 + rr;
    qs[rr * ld + e] = t < T ? q[t * int64_t(Hq) * hd + h * hd + e] : 0.0f;
  }
  const int64_t t = t0 + r;
  const int64_t limit = pos + (t < T ? t : 0);  // last key this row sees (padding rows: key 0 only)
  const int64_t keys = pos + std::min<int64_t>(T, t0 + kTile);
  const int cols = (hd + 3) / 4;
  float o[kMaxHeadDim / 4];
#pragma unroll
  for (int k = 0; k < kMaxHeadDim / 4; ++k) o[k] = 0.0f;
  float m = -INFINITY, l = 0.0f;
  for (int64_t j0 = 0; j0 < keys; j0 += kTile) {
    __syncthreads();
    load_kv_tile(kv, j0, keys, kvh, hd, ks, vs);
    __syncthreads();
    float s[8];
    float mt = -INFINITY;
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      const int c = cg * 8 + k;
      float acc = 0.0f;
      for (int e = 0; e < hd; ++e) acc += qs[r * ld + e] * ks[c * ld + e];
      s[k] = j0 + c <= limit ? acc * scale : -INFINITY;
      mt = fmaxf(mt, s[k]);
    }
    mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, 1));
    mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, 2));
    const float m_new = fmaxf(m, mt);
    const float alpha = expf(m - m_new);
    float sum = 0.0f;
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      const float p = expf(s[k] - m_new);
      ps[r * (kTile + 1) + cg * 8 + k] = p;
      sum += p;
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    l = l * alpha + sum;
    m = m_new;
    __syncwarp();  // ps row r is written and read by the same 4 lanes
#pragma unroll
    for (int k = 0; k < kMaxHeadDim / 4; ++k) {
      if (k < cols && cg + 4 * k < hd) {
        const int e = cg + 4 * k;
        float acc = o[k] * alpha;
        for (int c = 0; c < kTile; ++c) acc += ps[r * (kTile + 1) + c] * vs[c * ld + e];
        o[k] = acc;
      }
    }
  }
  if (t < T) {
    const float inv = 1.0f / l;
#pragma unroll
    for (int k = 0; k < kMaxHeadDim / 4; ++k)
      if (k < cols && cg + 4 * k < hd) out[t * int64_t(Hq) * hd + h * hd + cg + 4 * k] = o[k] * inv;
  }
}

}  // namespace

void kv_append(const float* k, const float* v, int64_t T, int64_t pos, const KvView& kv, cudaStream_t stream,
               const DecodeSeqs& seqs) {
  if (T == 0) return;
  kv_append_kernel<<<blocks_for(T * kv.kvd, 256), 256, 0, stream>>>(k, v, T, pos, seqs, kv);
  NAGENT_LAUNCH_CHECK();
}

void attention_prefill(const float* q, int64_t T, int64_t pos, int Hq, int Hkv, int hd, const KvView& kv, float* out,
                       cudaStream_t stream) {
  if (T == 0) return;
  static const bool configured = [] {
    NAGENT_CUDA_CHECK(cudaFuncSetAttribute(prefill_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 100 * 1024));
    return true;
  }();
  (void)configured;
  const size_t smem = (3 * kTile * (hd + 1) + kTile * (kTile + 1)) * sizeof(float);
  prefill_kernel<<<dim3(blocks_for(T, kTile), Hq), 128, smem, stream>>>(q, T, pos, Hq, Hkv, hd, kv,
                                                                        1.0f / std::sqrt(float(hd)), out);
  NAGENT_LAUNCH_CHECK();
}

}  // namespace nagent::engine::cuda
