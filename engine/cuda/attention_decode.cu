// Attention decode: one query per head for each decode row over the paged bf16 KV cache
// (flash-decoding): blocks take (kv head, key range, row) triples, each serving all query heads
// of the group from one read of K/V, and a second kernel combines the key ranges. One sequence,
// or one token of each of many with their own page tables (DecodeSeqs).
//  - mma_decode_kernel (groups of up to 16 query heads, head_dim a multiple of 16: Nemotron's):
//    the group's queries are the 16 rows of tensor-core products (mma.sync m16n8k16, bf16 in,
//    fp32 out); K/V tiles arrive by cp.async, double-buffered. The fp32 queries and softmax
//    weights enter as two bf16 terms (hi + lo), so the products keep about 16 bits of mantissa
//    where one bf16 term would keep 8: the result stays within fp32-path rounding.
//  - decode_kernel (SIMT, fp32): any group up to 32 heads.
#include <algorithm>
#include <cmath>

#include "engine/cuda/attention_kv.cuh"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/kernels.h"
#include "engine/cuda/mma.cuh"
#include "engine/cuda/per_device_once.h"

namespace nagent::engine::cuda {

namespace {

constexpr int kDecodeWarps = 8;
constexpr int kHeadsPerWarp = 4;  // SIMT: query heads per warp, so at most 32 per kv head
constexpr int kDecodeThreads = kDecodeWarps * 32;
constexpr int kSimtTile = 32;  // keys per SIMT tile
constexpr int kDecodeLoads = 2 * kSimtTile * (kMaxHeadDim / 8) / kDecodeThreads;  // 16-byte loads per thread per tile
constexpr int kMmaWarps = 4;
constexpr int kMmaTile = 16 * kMmaWarps;  // keys per tile: 16 per warp (one k16 step of P V)
constexpr int kMmaRows = 16;               // query heads per block: the m16 of the products

// The most splits any key count gets (the grid's y extent, fixed by the shape and the number
// of rows so that a captured graph serves every position: about eight blocks per SM, so many
// rows need fewer splits), and how the keys are split: computed on the device from the position
// and that extent, identically for every launch. A split takes at least kMinTilesPerSplit tiles
// so that its partial (hd + 4 floats per query head) stays small against the keys it reads.
constexpr int kMaxSplits = 512;
constexpr int kMinTilesPerSplit = 2;
__host__ __device__ __forceinline__ int max_decode_splits(int Hkv, int64_t rows) {
  const int64_t s = 1056 / max64(1, int64_t(Hkv) * rows);
  return static_cast<int>(s < 1 ? 1 : (s > kMaxSplits ? kMaxSplits : s));
}
struct DecodeSplit {
  int64_t per_split;
  int used;  // every split non-empty
};
__host__ __device__ __forceinline__ DecodeSplit decode_split(int64_t keys, int max_splits, int tile) {
  const int64_t tiles = (keys + tile - 1) / tile;
  const int64_t wanted = (tiles + kMinTilesPerSplit - 1) / kMinTilesPerSplit;
  const int splits = static_cast<int>(min64(max_splits, wanted < 1 ? 1 : wanted));
  const int64_t per_split = ((keys + splits - 1) / splits + tile - 1) / tile * tile;
  return {per_split, static_cast<int>((keys + per_split - 1) / per_split)};
}

// The block's share of a decode launch: kv head blockIdx.x, split blockIdx.y of gridDim.y,
// row blockIdx.z over keys [begin, end) of its sequence; kv, q and partial moved to that row.
// False for blocks past the splits the row's length uses (they return at once).
struct DecodeBlock {
  int kvh, split, splits;
  int64_t begin, end;
};
__device__ __forceinline__ bool decode_block(const DecodeSeqs& seqs, int tile, int Hq, int hd, KvView& kv,
                                             const float*& q, float*& partial, DecodeBlock& b) {
  b.kvh = blockIdx.x;
  b.split = blockIdx.y;
  b.splits = gridDim.y;
  const int64_t row = blockIdx.z;
  const int64_t keys = int64_t(seqs.pos[row]) + 1;
  const DecodeSplit ds = decode_split(keys, b.splits, tile);
  if (b.split >= ds.used) return false;
  if (seqs.tables) kv.pages = seqs.tables[row];
  q += row * Hq * hd;
  partial += row * Hq * b.splits * (hd + 4);
  b.begin = b.split * ds.per_split;
  b.end = min64(keys, b.begin + ds.per_split);
  return true;
}

bool use_mma(int rep, int hd) { return rep <= kMmaRows && hd % 16 == 0; }

// One decode tile of kv head kvh (keys [j0, j0 + kSimtTile), zeros from `end` on) as 16-byte raw
// loads held in registers, so that the next tile is in flight while this one is computed on.
// Item it: K (it < kSimtTile * hd / 8) or V, key it / (hd / 8) of the tile, 8 values it % (hd / 8).
__device__ __forceinline__ void fetch_decode_tile(const KvView& kv, int64_t j0, int64_t end, int kvh, int hd,
                                                  uint4 (&raw)[kDecodeLoads]) {
  const int vecs = hd / 8, per_kind = kSimtTile * vecs;
#pragma unroll
  for (int i = 0; i < kDecodeLoads; ++i) {
    const int it = threadIdx.x + i * kDecodeThreads;
    raw[i] = make_uint4(0u, 0u, 0u, 0u);
    if (it >= 2 * per_kind) continue;
    const int which = it / per_kind, rem = it % per_kind;
    const int64_t j = j0 + rem / vecs;
    if (j < end) raw[i] = __ldg(reinterpret_cast<const uint4*>(kv_row(kv, j, which) + kvh * hd) + rem % vecs);
  }
}
// The fetched tile into ks / vs ([kSimtTile][hd + 4] fp32: rows 16-byte aligned, and float4 reads
// of consecutive rows by a quarter warp fall in distinct banks).
__device__ __forceinline__ void store_decode_tile(const uint4 (&raw)[kDecodeLoads], int hd, float* ks, float* vs) {
  const int vecs = hd / 8, per_kind = kSimtTile * vecs, ld = hd + 4;
#pragma unroll
  for (int i = 0; i < kDecodeLoads; ++i) {
    const int it = threadIdx.x + i * kDecodeThreads;
    if (it >= 2 * per_kind) continue;
    const int which = it / per_kind, rem = it % per_kind;
    float* dst = (which ? vs : ks) + (rem / vecs) * ld + (rem % vecs) * 8;
    const __nv_bfloat162* p = reinterpret_cast<const __nv_bfloat162*>(&raw[i]);
    const float2 a = __bfloat1622float2(p[0]), b = __bfloat1622float2(p[1]);
    const float2 c = __bfloat1622float2(p[2]), d = __bfloat1622float2(p[3]);
    reinterpret_cast<float4*>(dst)[0] = make_float4(a.x, a.y, b.x, b.y);
    reinterpret_cast<float4*>(dst)[1] = make_float4(c.x, c.y, d.x, d.y);
  }
}

__device__ __forceinline__ void fma4(float4& acc, float4 a, float4 b) {
  acc.x += a.x * b.x;
  acc.y += a.y * b.y;
  acc.z += a.z * b.z;
  acc.w += a.w * b.w;
}
__device__ __forceinline__ void axpy4(float4& o, float a, float4 v) {
  o.x += a * v.x;
  o.y += a * v.y;
  o.z += a * v.z;
  o.w += a * v.w;
}

// SIMT decode, for groups of more than 16 query heads (or head_dim not a multiple of 16).
// Block (kvh, split, row): warp w serves query heads w, w + 8, ... of the group, so every head
// of the group shares one read of K/V; lane = key within the tile for the scores, lane = output
// columns 4 lane .. 4 lane + 3 for the values. Partials: m, l, (2 floats unused), o[hd].
// The row's keys 0..seqs.pos[row]; blocks past the used splits return at once.
// partial: [rows][Hq][gridDim.y][hd + 4].
__global__ void __launch_bounds__(kDecodeThreads, 3) decode_kernel(const float* q, DecodeSeqs seqs, int Hq, int Hkv,
                                                                int hd, KvView kv, float scale, float* partial) {
  DecodeBlock blk;
  if (!decode_block(seqs, kSimtTile, Hq, hd, kv, q, partial, blk)) return;
  const int kvh = blk.kvh, split = blk.split, splits = blk.splits;
  const int64_t begin = blk.begin, end = blk.end;
  const int rep = Hq / Hkv, hd4 = hd / 4, ld4 = (hd + 4) / 4;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const bool owns_cols = lane < hd4;
  const int heads = (rep - warp + kDecodeWarps - 1) / kDecodeWarps;  // this warp's: warp-uniform
  extern __shared__ float4 smem4[];
  float4* qs = smem4;               // [rep][hd / 4]
  float4* ks = qs + rep * hd4;      // [kSimtTile][ld4]
  float4* vs = ks + kSimtTile * ld4;
  for (int i = threadIdx.x; i < rep * hd; i += blockDim.x)
    reinterpret_cast<float*>(qs)[i] = q[(kvh * rep) * hd + i] * scale;
  float m[kHeadsPerWarp], l[kHeadsPerWarp];
  float4 o[kHeadsPerWarp];
#pragma unroll
  for (int a = 0; a < kHeadsPerWarp; ++a) {
    m[a] = -INFINITY;
    l[a] = 0.0f;
    o[a] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  }
  uint4 raw[kDecodeLoads];
  fetch_decode_tile(kv, begin, end, kvh, hd, raw);
  for (int64_t j0 = begin; j0 < end; j0 += kSimtTile) {
    __syncthreads();  // the previous tile is consumed
    store_decode_tile(raw, hd, reinterpret_cast<float*>(ks), reinterpret_cast<float*>(vs));
    __syncthreads();
    if (j0 + kSimtTile < end) fetch_decode_tile(kv, j0 + kSimtTile, end, kvh, hd, raw);
    // Four partial sums per head (one per float4 component) keep the FMA chains short.
    float4 s4[kHeadsPerWarp];
#pragma unroll
    for (int a = 0; a < kHeadsPerWarp; ++a) s4[a] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll 4
    for (int e = 0; e < hd4; ++e) {
      const float4 k4 = ks[lane * ld4 + e];
#pragma unroll
      for (int a = 0; a < kHeadsPerWarp; ++a)
        if (a < heads) fma4(s4[a], qs[(warp + a * kDecodeWarps) * hd4 + e], k4);
    }
    float p[kHeadsPerWarp];
#pragma unroll
    for (int a = 0; a < kHeadsPerWarp; ++a) {
      p[a] = 0.0f;
      if (a >= heads) continue;
      const float sa = j0 + lane < end ? (s4[a].x + s4[a].y) + (s4[a].z + s4[a].w) : -INFINITY;
      const float m_new = fmaxf(m[a], warp_max(sa));
      const float alpha = expf(m[a] - m_new);
      p[a] = expf(sa - m_new);
      l[a] = l[a] * alpha + warp_sum(p[a]);
      m[a] = m_new;
      o[a].x *= alpha;
      o[a].y *= alpha;
      o[a].z *= alpha;
      o[a].w *= alpha;
    }
#pragma unroll 4
    for (int c = 0; c < kSimtTile; ++c) {
      const float4 v4 = owns_cols ? vs[c * ld4 + lane] : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll
      for (int a = 0; a < kHeadsPerWarp; ++a)
        if (a < heads) axpy4(o[a], __shfl_sync(0xffffffffu, p[a], c), v4);
    }
  }
#pragma unroll
  for (int a = 0; a < kHeadsPerWarp; ++a) {
    if (a >= heads) continue;
    const int hh = warp + a * kDecodeWarps;
    float* dst = partial + (int64_t(kvh * rep + hh) * splits + split) * (hd + 4);
    if (lane == 0) {
      dst[0] = m[a];
      dst[1] = l[a];
    }
    if (owns_cols) reinterpret_cast<float4*>(dst + 4)[lane] = o[a];
  }
}

// --- tensor-core decode ---

// Block (kvh, split, row), kMmaWarps warps. Rows of the products: the group's query heads (up
// to 16; rows past the group are zero and never written). Warp w takes keys 16 w .. 16 w + 15
// of every tile with its own online softmax (m, l and O[16][hd] in registers: the mma
// accumulator layout, rows g = lane / 4 and g + 8, columns 2 (lane % 4) + {0, 1} of each n8
// tile), and the warps' results are merged at the end into the split's partial:
// [rows][Hq][gridDim.y][hd + 4] as decode_kernel writes it. Operand fragments by ldmatrix (V
// transposed on the way), the K/V tile copies unrolled at compile time (issue_kv_tile).
template <int HD>
__global__ void __launch_bounds__(kMmaWarps * 32) mma_decode_kernel(const float* q, DecodeSeqs seqs, int Hq,
                                                                     int Hkv, KvView kv, float scale,
                                                                     float* partial) {
  constexpr int kLd = HD + 8, kSteps = HD / 16, kN8 = HD / 8;
  DecodeBlock blk;
  if (!decode_block(seqs, kMmaTile, Hq, HD, kv, q, partial, blk)) return;
  const int kvh = blk.kvh, split = blk.split, splits = blk.splits;
  const int64_t begin = blk.begin, end = blk.end;
  const int rep = Hq / Hkv;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, tig = lane & 3;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* q_hi = reinterpret_cast<bf16*>(smem_raw);  // [16][kLd]
  bf16* q_lo = q_hi + kMmaRows * kLd;
  bf16* kv_buf = q_lo + kMmaRows * kLd;  // [2 buffers][K, V][kMmaTile][kLd]
  auto k_tile = [&](int b) { return kv_buf + (2 * b) * kMmaTile * kLd; };
  auto v_tile = [&](int b) { return kv_buf + (2 * b + 1) * kMmaTile * kLd; };
  __shared__ float warp_m[kMmaWarps][kMmaRows], warp_l[kMmaWarps][kMmaRows];

  const int tiles = static_cast<int>((end - begin + kMmaTile - 1) / kMmaTile);
  issue_kv_tile<HD, kMmaTile, kMmaWarps * 32>(kv, begin, end, kvh, k_tile(0), v_tile(0));
  cp_async_commit();
  for (int i = threadIdx.x; i < kMmaRows * (HD / 2); i += blockDim.x) {
    const int r = i / (HD / 2), e = 2 * (i % (HD / 2));
    float2 x = make_float2(0.0f, 0.0f);
    if (r < rep) x = *reinterpret_cast<const float2*>(q + (kvh * rep + r) * HD + e);
    uint32_t hi, lo;
    split_pair(x.x * scale, x.y * scale, hi, lo);
    *reinterpret_cast<uint32_t*>(q_hi + r * kLd + e) = hi;
    *reinterpret_cast<uint32_t*>(q_lo + r * kLd + e) = lo;
  }
  // This lane's ldmatrix row addresses (mma.cuh): matrix mi = lane / 8, row lane % 8 of it.
  const int mi = lane >> 3, mr = lane & 7;
  const int a_off = ((mi & 1) * 8 + mr) * kLd + (mi >> 1) * 8;  // Q (A): rows +8 in m1/m3, cols +8 in m2/m3
  const int k_off = ((mi >> 1) * 8 + mr) * kLd + (mi & 1) * 8;  // K (B of S): keys +8 in m2/m3, dims +8 in m1/m3
  const int v_off = a_off;                                      // V (B of PV): keys +8 in m1/m3, dims +8 in m2/m3

  float o[kN8][4];
#pragma unroll
  for (int n = 0; n < kN8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  OnlineSoftmax sm;  // rows g and g + 8

  for (int t = 0; t < tiles; ++t) {
    const int b = t & 1;
    if (t + 1 < tiles) {
      issue_kv_tile<HD, kMmaTile, kMmaWarps * 32>(kv, begin + int64_t(t + 1) * kMmaTile, end, kvh, k_tile(b ^ 1),
                                                  v_tile(b ^ 1));
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();  // tile t (and the queries) visible to every warp
    const bf16* ks = k_tile(b) + (warp * 16) * kLd;
    const bf16* vs = v_tile(b) + (warp * 16) * kLd;
    // S = Q K^T for this warp's 16 keys: two n8 tiles (keys 0-7, 8-15).
    float s[2][4] = {{0.0f, 0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f, 0.0f}};
#pragma unroll
    for (int kk = 0; kk < kSteps; ++kk) {
      uint32_t ah[4], al[4], kb[4];
      ldmatrix_x4(ah, q_hi + a_off + kk * 16);
      ldmatrix_x4(al, q_lo + a_off + kk * 16);
      ldmatrix_x4(kb, ks + k_off + kk * 16);
      mma_16816(s[0], ah, kb[0], kb[1]);
      mma_16816(s[1], ah, kb[2], kb[3]);
      mma_16816(s[0], al, kb[0], kb[1]);
      mma_16816(s[1], al, kb[2], kb[3]);
    }
    // Online softmax over the 16 keys; a row's 16 scores sit in the 4 lanes of its quad.
    const int64_t j0 = begin + int64_t(t) * kMmaTile + warp * 16;
    if (j0 + 16 > end) {
#pragma unroll
      for (int nt = 0; nt < 2; ++nt)
#pragma unroll
        for (int c = 0; c < 2; ++c)
          if (j0 + nt * 8 + 2 * tig + c >= end) s[nt][c] = s[nt][2 + c] = -INFINITY;
    }
    // A warp whose keys all lie past `end` keeps m = -inf: nothing to scale, all weights 0.
    const float2 alpha = sm.update(s);
    // P as the A operand (16 rows x 16 keys): the score accumulators are already in its layout.
    uint32_t ph[4], pl[4];
    split_pair(s[0][0], s[0][1], ph[0], pl[0]);
    split_pair(s[0][2], s[0][3], ph[1], pl[1]);
    split_pair(s[1][0], s[1][1], ph[2], pl[2]);
    split_pair(s[1][2], s[1][3], ph[3], pl[3]);
    // O = alpha O + P V, two n8 tiles (columns 8 n .. 8 n + 15) per ldmatrix.
#pragma unroll
    for (int n = 0; n < kN8; n += 2) {
      uint32_t vb[4];
      ldmatrix_x4_trans(vb, vs + v_off + n * 8);
      scale_rows(o[n], alpha);
      scale_rows(o[n + 1], alpha);
      mma_16816(o[n], ph, vb[0], vb[1]);
      mma_16816(o[n + 1], ph, vb[2], vb[3]);
      mma_16816(o[n], pl, vb[0], vb[1]);
      mma_16816(o[n + 1], pl, vb[2], vb[3]);
    }
    __syncthreads();  // buffer b is read by every warp before tile t + 2 overwrites it
  }

  // Merge the warps: each writes m, l and O to shared memory (the K/V buffers are free now).
  float* warp_o = reinterpret_cast<float*>(kv_buf);  // [kMmaWarps][16][HD]
  if (tig == 0) {
    warp_m[warp][g] = sm.m_g;
    warp_m[warp][g + 8] = sm.m_g8;
    warp_l[warp][g] = sm.l_g;
    warp_l[warp][g + 8] = sm.l_g8;
  }
#pragma unroll
  for (int n = 0; n < kN8; ++n) {
    float* base = warp_o + (warp * kMmaRows) * HD + 8 * n + 2 * tig;
    base[g * HD] = o[n][0];
    base[g * HD + 1] = o[n][1];
    base[(g + 8) * HD] = o[n][2];
    base[(g + 8) * HD + 1] = o[n][3];
  }
  __syncthreads();
  for (int i = threadIdx.x; i < rep * (HD + 1); i += blockDim.x) {
    const int r = i / (HD + 1), e = i % (HD + 1);  // e == HD: the row's m and l
    float M = -INFINITY;
#pragma unroll
    for (int w = 0; w < kMmaWarps; ++w) M = fmaxf(M, warp_m[w][r]);
    float acc = 0.0f;
#pragma unroll
    for (int w = 0; w < kMmaWarps; ++w) {
      const float wt = warp_m[w][r] == -INFINITY ? 0.0f : expf(warp_m[w][r] - M);
      acc += wt * (e < HD ? warp_o[(w * kMmaRows + r) * HD + e] : warp_l[w][r]);
    }
    float* dst = partial + (int64_t(kvh * rep + r) * splits + split) * (HD + 4);
    if (e < HD) {
      dst[4 + e] = acc;
    } else {
      dst[0] = M;
      dst[1] = acc;
    }
  }
}

template <int HD>
void launch_mma_decode(const dim3& grid, const float* q, const DecodeSeqs& seqs, int Hq, int Hkv, const KvView& kv,
                       float scale, float* partial, cudaStream_t stream) {
  const size_t smem = size_t(2 * kMmaRows + 4 * kMmaTile) * (HD + 8) * sizeof(bf16);
  static PerDeviceOnce configured;
  configured.run([smem] {
    NAGENT_CUDA_CHECK(cudaFuncSetAttribute(reinterpret_cast<const void*>(&mma_decode_kernel<HD>),
                                           cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  });
  mma_decode_kernel<HD><<<grid, kMmaWarps * 32, smem, stream>>>(q, seqs, Hq, Hkv, kv, scale, partial);
}

// Block (h, row), kDecodeThreads threads: the splits' weights exp(m_s - M) once into shared
// memory, then warp w sums splits w, w + 8, ... with lane = 4 output columns, and the warps'
// sums are added.
__global__ void __launch_bounds__(kDecodeThreads) decode_combine_kernel(const float* partial, int stride, int tile,
                                                                        DecodeSeqs seqs, int Hq, int hd, float* out) {
  const int h = blockIdx.x;
  const int64_t row = blockIdx.y;
  const int splits = decode_split(int64_t(seqs.pos[row]) + 1, stride, tile).used;
  const int pd = hd + 4, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const float* base = partial + (row * Hq + h) * stride * pd;
  __shared__ float weight[kMaxSplits];
  __shared__ float4 sums[kDecodeWarps][kMaxHeadDim / 4];
  __shared__ float block_max_value;
  float mx = -INFINITY;
  for (int s = threadIdx.x; s < splits; s += blockDim.x) mx = fmaxf(mx, base[s * pd]);
  mx = warp_max(mx);
  if (lane == 0) weight[warp] = mx;  // scratch until the maximum is known
  __syncthreads();
  if (threadIdx.x == 0) {
    float M = -INFINITY;
    for (int w = 0; w < kDecodeWarps; ++w) M = fmaxf(M, weight[w]);
    block_max_value = M;
  }
  __syncthreads();
  const float M = block_max_value;
  float den = 0.0f;
  for (int s = threadIdx.x; s < splits; s += blockDim.x) {
    const float w = expf(base[s * pd] - M);
    weight[s] = w;
    den += w * base[s * pd + 1];
  }
  den = block_sum(den);  // synchronizes, so every weight is written
  float4 acc = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  if (lane < hd / 4) {
#pragma unroll 4
    for (int s = warp; s < splits; s += kDecodeWarps)
      axpy4(acc, weight[s], reinterpret_cast<const float4*>(base + s * pd + 4)[lane]);
    sums[warp][lane] = acc;
  }
  __syncthreads();
  for (int e = threadIdx.x; e < hd; e += blockDim.x) {
    float num = 0.0f;
    for (int w = 0; w < kDecodeWarps; ++w) num += reinterpret_cast<const float*>(sums[w])[e];
    out[(row * Hq + h) * hd + e] = num / den;
  }
}

}  // namespace

const char* attention_unsupported(int Hq, int Hkv, int hd) {
  if (hd < 8 || hd > kMaxHeadDim || hd % 8 != 0) return "head_dim must be a multiple of 8 up to 128";
  if (Hq % Hkv != 0 || Hq / Hkv > kDecodeWarps * kHeadsPerWarp) return "at most 32 query heads per key/value head";
  return "";
}

int64_t attention_decode_workspace_floats(int64_t rows, int Hq, int Hkv, int hd) {
  return rows * Hq * max_decode_splits(Hkv, rows) * (hd + 4);
}

void attention_decode(const float* q, int64_t rows, const DecodeSeqs& seqs, int Hq, int Hkv, int hd,
                      const KvView& kv, float* workspace, float* out, cudaStream_t stream) {
  if (rows == 0) return;
  static PerDeviceOnce configured;  // SIMT: 32 heads, hd 128 need 49 KB
  configured.run([] {
    NAGENT_CUDA_CHECK(cudaFuncSetAttribute(decode_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024));
  });
  const int splits = max_decode_splits(Hkv, rows);
  const dim3 grid(Hkv, splits, static_cast<unsigned>(rows));
  const float scale = 1.0f / std::sqrt(float(hd));
  const int rep = Hq / Hkv;
  int tile = kSimtTile;
  if (use_mma(rep, hd)) {
    tile = kMmaTile;
    with_mma_head_dim(hd, [&](auto HD) {
      launch_mma_decode<HD.value>(grid, q, seqs, Hq, Hkv, kv, scale, workspace, stream);
    });
  } else {
    const size_t smem = (size_t(rep) * hd + 2 * kSimtTile * (hd + 4)) * sizeof(float);
    decode_kernel<<<grid, kDecodeThreads, smem, stream>>>(q, seqs, Hq, Hkv, hd, kv, scale, workspace);
  }
  NAGENT_LAUNCH_CHECK();
  decode_combine_kernel<<<dim3(Hq, static_cast<unsigned>(rows)), kDecodeThreads, 0, stream>>>(workspace, splits, tile,
                                                                                              seqs, Hq, hd, out);
  NAGENT_LAUNCH_CHECK();
}

}  // namespace nagent::engine::cuda
