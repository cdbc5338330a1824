// GQA attention over the paged bf16 KV cache, fp32 softmax and accumulation:
//  - kv_append: the new tokens' keys and values into their pages.
//  - attention_prefill: flash-style, so no T x T score matrix exists: on tensor cores
//    (mma_prefill_kernel, head_dim a multiple of 16) a block takes 64 queries of one head and
//    walks 64-key tiles of the cache; else (prefill_kernel, SIMT fp32) 32 queries and 32 keys.
// (attention_decode: attention_decode.cu.)
#include <algorithm>
#include <cmath>

#include "engine/cuda/attention_kv.cuh"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/kernels.h"
#include "engine/cuda/mma.cuh"
#include "engine/cuda/per_device_once.h"

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


// Tensor-core prefill (head_dim HD a multiple of 16): block (tile of kMmaQueries queries, head
// h), kPrefillWarps warps of 16 query rows each; keys in tiles of kPrefillKeys by cp.async,
// double-buffered, up to the last key the block's last query sees. Per warp and key tile: S =
// Q K^T (rows g, g + 8 of the warp; 8 n8 tiles of keys), the causal mask on the tiles that
// cross the diagonal, online softmax, then O += P V with P's accumulators reused as the A
// fragments (mma.cuh). Every operand fragment comes from shared memory by ldmatrix (V
// transposed on the way). Queries and softmax weights as bf16 hi + lo pairs, as in the decode
// kernel.
constexpr int kPrefillWarps = 4;
constexpr int kMmaQueries = 16 * kPrefillWarps;
constexpr int kPrefillKeys = 64;

template <int HD>
__global__ void __launch_bounds__(kPrefillWarps * 32) mma_prefill_kernel(const float* q, int64_t T, int64_t pos,
                                                                          int Hq, int Hkv, KvView kv, float scale,
                                                                          float* out) {
  constexpr int kLd = HD + 8, kSteps = HD / 16, kN8 = HD / 8;
  const int h = blockIdx.y, kvh = h / (Hq / Hkv);
  const int64_t t0 = int64_t(blockIdx.x) * kMmaQueries;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, tig = lane & 3;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* q_hi = reinterpret_cast<bf16*>(smem_raw);  // [kMmaQueries][kLd]
  bf16* q_lo = q_hi + kMmaQueries * kLd;
  bf16* kv_buf = q_lo + kMmaQueries * kLd;  // [2 buffers][K, V][kPrefillKeys][kLd]
  auto k_tile = [&](int b) { return kv_buf + (2 * b) * kPrefillKeys * kLd; };
  auto v_tile = [&](int b) { return kv_buf + (2 * b + 1) * kPrefillKeys * kLd; };

  const int64_t end = pos + min64(T, t0 + kMmaQueries);  // keys of the block's last query: [0, end)
  const int tiles = static_cast<int>((end + kPrefillKeys - 1) / kPrefillKeys);
  issue_kv_tile<HD, kPrefillKeys, kPrefillWarps * 32>(kv, 0, end, kvh, k_tile(0), v_tile(0));
  cp_async_commit();
  for (int i = threadIdx.x; i < kMmaQueries * (HD / 2); i += kPrefillWarps * 32) {
    const int r = i / (HD / 2), e = 2 * (i % (HD / 2));
    const int64_t t = t0 + r;
    float2 x = make_float2(0.0f, 0.0f);
    if (t < T) x = *reinterpret_cast<const float2*>(q + (t * Hq + h) * HD + e);
    uint32_t hi, lo;
    split_pair(x.x * scale, x.y * scale, hi, lo);
    *reinterpret_cast<uint32_t*>(q_hi + r * kLd + e) = hi;
    *reinterpret_cast<uint32_t*>(q_lo + r * kLd + e) = lo;
  }
  // The last key rows g and g + 8 of this warp see (rows past T: key 0 only, never written).
  const int rg = warp * 16 + g;
  const int64_t limit_g = pos + (t0 + rg < T ? t0 + rg : 0);
  const int64_t limit_g8 = pos + (t0 + rg + 8 < T ? t0 + rg + 8 : 0);
  const int64_t lane_limit = min64(limit_g, limit_g8);
  const int64_t warp_limit = pos + min64(T - 1, t0 + warp * 16 + 15);
  // This lane's ldmatrix row addresses: matrix mi = lane / 8, row lane % 8 of it.
  const int mi = lane >> 3, mr = lane & 7;
  const int q_off = (warp * 16 + (mi & 1) * 8 + mr) * kLd + (mi >> 1) * 8;  // A: rows +8 in m1/m3, cols +8 in m2/m3
  const int k_off = ((mi >> 1) * 8 + mr) * kLd + (mi & 1) * 8;               // B of S: keys +8 in m2/m3, dims +8 in m1/m3
  const int v_off = ((mi & 1) * 8 + mr) * kLd + (mi >> 1) * 8;               // B of PV: keys +8 in m1/m3, dims +8 in m2/m3

  float o[kN8][4];
#pragma unroll
  for (int n = 0; n < kN8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  OnlineSoftmax sm;  // rows g and g + 8

  for (int t = 0; t < tiles; ++t) {
    const int b = t & 1;
    if (t + 1 < tiles) {
      issue_kv_tile<HD, kPrefillKeys, kPrefillWarps * 32>(kv, int64_t(t + 1) * kPrefillKeys, end, kvh, k_tile(b ^ 1),
                                                        v_tile(b ^ 1));
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const int64_t j0 = int64_t(t) * kPrefillKeys;
    if (j0 <= warp_limit) {  // else every key of the tile is in this warp's future
      const bf16* ks = k_tile(b);
      const bf16* vs = v_tile(b);
      float s[kPrefillKeys / 8][4];
#pragma unroll
      for (int nt = 0; nt < kPrefillKeys / 8; ++nt) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
#pragma unroll
      for (int kk = 0; kk < kSteps; ++kk) {
        uint32_t ah[4], al[4];
        ldmatrix_x4(ah, q_hi + q_off + kk * 16);
        ldmatrix_x4(al, q_lo + q_off + kk * 16);
#pragma unroll
        for (int nt = 0; nt < kPrefillKeys / 8; nt += 2) {
          uint32_t kb[4];  // b0 b1 of key tile nt, then of nt + 1
          ldmatrix_x4(kb, ks + nt * 8 * kLd + k_off + kk * 16);
          mma_16816(s[nt], ah, kb[0], kb[1]);
          mma_16816(s[nt + 1], ah, kb[2], kb[3]);
          mma_16816(s[nt], al, kb[0], kb[1]);
          mma_16816(s[nt + 1], al, kb[2], kb[3]);
        }
      }
      if (j0 + kPrefillKeys - 1 > lane_limit) {  // the tile crosses this lane's diagonal
#pragma unroll
        for (int nt = 0; nt < kPrefillKeys / 8; ++nt)
#pragma unroll
          for (int c = 0; c < 2; ++c) {
            const int64_t j = j0 + nt * 8 + 2 * tig + c;
            if (j > limit_g) s[nt][c] = -INFINITY;
            if (j > limit_g8) s[nt][2 + c] = -INFINITY;
          }
      }
      const float2 alpha = sm.update(s);
#pragma unroll
      for (int n = 0; n < kN8; ++n) scale_rows(o[n], alpha);
      // O += P V over the tile, 16 keys (one k16 step) at a time.
#pragma unroll
      for (int c = 0; c < kPrefillKeys / 16; ++c) {
        uint32_t ph[4], pl[4];
        split_pair(s[2 * c][0], s[2 * c][1], ph[0], pl[0]);
        split_pair(s[2 * c][2], s[2 * c][3], ph[1], pl[1]);
        split_pair(s[2 * c + 1][0], s[2 * c + 1][1], ph[2], pl[2]);
        split_pair(s[2 * c + 1][2], s[2 * c + 1][3], ph[3], pl[3]);
#pragma unroll
        for (int n = 0; n < kN8; n += 2) {
          uint32_t vb[4];  // b0 b1 of output tile n, then of n + 1
          ldmatrix_x4_trans(vb, vs + 16 * c * kLd + v_off + n * 8);
          mma_16816(o[n], ph, vb[0], vb[1]);
          mma_16816(o[n + 1], ph, vb[2], vb[3]);
          mma_16816(o[n], pl, vb[0], vb[1]);
          mma_16816(o[n + 1], pl, vb[2], vb[3]);
        }
      }
    }
    __syncthreads();  // buffer b is read by every warp before tile t + 2 overwrites it
  }
  const float inv_g = 1.0f / sm.l_g, inv_g8 = 1.0f / sm.l_g8;
  const int64_t tg = t0 + rg, tg8 = tg + 8;
#pragma unroll
  for (int n = 0; n < kN8; ++n) {
    const int e = 8 * n + 2 * tig;
    if (tg < T) *reinterpret_cast<float2*>(out + (tg * Hq + h) * HD + e) = make_float2(o[n][0] * inv_g, o[n][1] * inv_g);
    if (tg8 < T)
      *reinterpret_cast<float2*>(out + (tg8 * Hq + h) * HD + e) = make_float2(o[n][2] * inv_g8, o[n][3] * inv_g8);
  }
}

template <int HD>
void launch_mma_prefill(const float* q, int64_t T, int64_t pos, int Hq, int Hkv, const KvView& kv, float scale,
                        float* out, cudaStream_t stream) {
  const size_t smem = size_t(2 * kMmaQueries + 4 * kPrefillKeys) * (HD + 8) * sizeof(bf16);
  static PerDeviceOnce configured;
  configured.run([smem] {
    NAGENT_CUDA_CHECK(cudaFuncSetAttribute(reinterpret_cast<const void*>(&mma_prefill_kernel<HD>),
                                           cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  });
  mma_prefill_kernel<HD><<<dim3(blocks_for(T, kMmaQueries), Hq), kPrefillWarps * 32, smem, stream>>>(
      q, T, pos, Hq, Hkv, kv, scale, out);
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
  static PerDeviceOnce configured;  // SIMT: 54 KB at hd 128
  configured.run([] {
    NAGENT_CUDA_CHECK(cudaFuncSetAttribute(prefill_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 100 * 1024));
  });
  const float scale = 1.0f / std::sqrt(float(hd));
  if (hd % 16 == 0 && hd <= kMaxHeadDim) {
    with_mma_head_dim(hd, [&](auto HD) { launch_mma_prefill<HD.value>(q, T, pos, Hq, Hkv, kv, scale, out, stream); });
  } else {
    const size_t smem = (3 * kTile * (hd + 1) + kTile * (kTile + 1)) * sizeof(float);
    prefill_kernel<<<dim3(blocks_for(T, kTile), Hq), 128, smem, stream>>>(q, T, pos, Hq, Hkv, hd, kv, scale, out);
  }
  NAGENT_LAUNCH_CHECK();
}

}  // namespace nagent::engine::cuda
