// GQA attention over the paged bf16 KV cache, fp32 softmax and accumulation:
//  - kv_append: the new tokens' keys and values into their pages.
//  - attention_prefill: flash-style: a block takes 32 queries of one head and walks 32-key tiles
//    of the cache with an online softmax, so no T x T score matrix exists.
//  - attention_decode: flash-decoding: blocks take (kv head, key range, sequence) triples, each
//    serving all query heads of the group from one read of K/V (16-byte loads, the next tile in
//    flight while one is computed on), and a second kernel combines the ranges. One sequence, or
//    one token of each of many with their own page tables (DecodeSeqs).
#include <algorithm>
#include <cmath>

#include "engine/cuda/common.cuh"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/kernels.h"

namespace nagent::engine::cuda {

namespace {

constexpr int kTile = 32;       // keys per tile, queries per prefill block
constexpr int kMaxHd = 128;
constexpr int kDecodeWarps = 8;
constexpr int kHeadsPerWarp = 4;  // query heads per kv head: at most 32

// Row of key (which = 0) or value (1) j in this layer's slot of the sequence's pages.
__device__ __forceinline__ bf16* kv_row(const KvView& kv, int64_t j, int which) {
  const int64_t page = kv.pages[j / kv.page_size];
  return kv.pool + ((page * kv.slots + kv.slot) * 2 + which) * int64_t(kv.page_size) * kv.kvd +
         (j % kv.page_size) * int64_t(kv.kvd);
}

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
  float o[kMaxHd / 4];
#pragma unroll
  for (int k = 0; k < kMaxHd / 4; ++k) o[k] = 0.0f;
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
    for (int k = 0; k < kMaxHd / 4; ++k) {
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
    for (int k = 0; k < kMaxHd / 4; ++k)
      if (k < cols && cg + 4 * k < hd) out[t * int64_t(Hq) * hd + h * hd + cg + 4 * k] = o[k] * inv;
  }
}

// Decode: the most splits any key count gets (the grid's y extent, fixed by the shape and the
// number of rows so that a captured graph serves every position: about eight blocks per SM,
// so many rows need fewer splits), and how the keys are split: computed on the device from
// the position and that extent, identically for every launch. A split takes at least
// kMinTilesPerSplit tiles so that its partial (hd + 4 floats per query head) stays small
// against the keys it reads.
constexpr int kDecodeThreads = kDecodeWarps * 32;
constexpr int kMaxSplits = 512;
constexpr int kMinTilesPerSplit = 2;
constexpr int kDecodeLoads = 2 * kTile * (kMaxHd / 8) / kDecodeThreads;  // 16-byte loads per thread per tile
__host__ __device__ __forceinline__ int max_decode_splits(int Hkv, int64_t rows) {
  const int64_t s = 1056 / max64(1, int64_t(Hkv) * rows);
  return static_cast<int>(s < 1 ? 1 : (s > kMaxSplits ? kMaxSplits : s));
}
struct DecodeSplit {
  int64_t per_split;
  int used;  // every split non-empty
};
__host__ __device__ __forceinline__ DecodeSplit decode_split(int64_t keys, int max_splits) {
  const int64_t tiles = (keys + kTile - 1) / kTile;
  const int64_t wanted = (tiles + kMinTilesPerSplit - 1) / kMinTilesPerSplit;
  const int splits = static_cast<int>(min64(max_splits, wanted < 1 ? 1 : wanted));
  const int64_t per_split = ((keys + splits - 1) / splits + kTile - 1) / kTile * kTile;
  return {per_split, static_cast<int>((keys + per_split - 1) / per_split)};
}

// One decode tile of kv head kvh (keys [j0, j0 + kTile), zeros from `end` on) as 16-byte raw
// loads held in registers, so that the next tile is in flight while this one is computed on.
// Item it: K (it < kTile * hd / 8) or V, key it / (hd / 8) of the tile, 8 values it % (hd / 8).
__device__ __forceinline__ void fetch_decode_tile(const KvView& kv, int64_t j0, int64_t end, int kvh, int hd,
                                                  uint4 (&raw)[kDecodeLoads]) {
  const int vecs = hd / 8, per_kind = kTile * vecs;
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
// The fetched tile into ks / vs ([kTile][hd + 4] fp32: rows 16-byte aligned, and float4 reads
// of consecutive rows by a quarter warp fall in distinct banks).
__device__ __forceinline__ void store_decode_tile(const uint4 (&raw)[kDecodeLoads], int hd, float* ks, float* vs) {
  const int vecs = hd / 8, per_kind = kTile * vecs, ld = hd + 4;
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

// Block (kvh, split, row): warp w serves query heads w, w + 8, ... of the group, so every head
// of the group shares one read of K/V; lane = key within the tile for the scores, lane = output
// columns 4 lane .. 4 lane + 3 for the values. Partials: m, l, (2 floats unused), o[hd].
// The row's keys 0..seqs.pos[row]; blocks past the used splits return at once.
// partial: [rows][Hq][gridDim.y][hd + 4].
__global__ void __launch_bounds__(kDecodeThreads, 3) decode_kernel(const float* q, DecodeSeqs seqs, int Hq, int Hkv,
                                                                int hd, KvView kv, float scale, float* partial) {
  const int kvh = blockIdx.x, split = blockIdx.y, splits = gridDim.y;
  const int64_t row = blockIdx.z;
  const int64_t keys = int64_t(seqs.pos[row]) + 1;
  const DecodeSplit ds = decode_split(keys, splits);
  if (split >= ds.used) return;
  if (seqs.tables) kv.pages = seqs.tables[row];
  q += row * Hq * hd;
  partial += row * Hq * splits * (hd + 4);
  const int rep = Hq / Hkv, hd4 = hd / 4, ld4 = (hd + 4) / 4;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const bool owns_cols = lane < hd4;
  const int heads = (rep - warp + kDecodeWarps - 1) / kDecodeWarps;  // this warp's: warp-uniform
  extern __shared__ float4 smem4[];
  float4* qs = smem4;               // [rep][hd / 4]
  float4* ks = qs + rep * hd4;      // [kTile][ld4]
  float4* vs = ks + kTile * ld4;
  for (int i = threadIdx.x; i < rep * hd; i += blockDim.x)
    reinterpret_cast<float*>(qs)[i] = q[(kvh * rep) * hd + i] * scale;
  const int64_t begin = split * ds.per_split, end = min64(keys, begin + ds.per_split);
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
  for (int64_t j0 = begin; j0 < end; j0 += kTile) {
    __syncthreads();  // the previous tile is consumed
    store_decode_tile(raw, hd, reinterpret_cast<float*>(ks), reinterpret_cast<float*>(vs));
    __syncthreads();
    if (j0 + kTile < end) fetch_decode_tile(kv, j0 + kTile, end, kvh, hd, raw);
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
    for (int c = 0; c < kTile; ++c) {
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

// Block (h, row), kDecodeThreads threads: the splits' weights exp(m_s - M) once into shared
// memory, then warp w sums splits w, w + 8, ... with lane = 4 output columns, and the warps'
// sums are added.
__global__ void __launch_bounds__(kDecodeThreads) decode_combine_kernel(const float* partial, int stride,
                                                                        DecodeSeqs seqs, int Hq, int hd, float* out) {
  const int h = blockIdx.x;
  const int64_t row = blockIdx.y;
  const int splits = decode_split(int64_t(seqs.pos[row]) + 1, stride).used;
  const int pd = hd + 4, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const float* base = partial + (row * Hq + h) * stride * pd;
  __shared__ float weight[kMaxSplits];
  __shared__ float4 sums[kDecodeWarps][kMaxHd / 4];
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
  if (hd < 8 || hd > kMaxHd || hd % 8 != 0) return "head_dim must be a multiple of 8 up to 128";
  if (Hq % Hkv != 0 || Hq / Hkv > kDecodeWarps * kHeadsPerWarp) return "at most 32 query heads per key/value head";
  return "";
}

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

int64_t attention_decode_workspace_floats(int64_t rows, int Hq, int Hkv, int hd) {
  return rows * Hq * max_decode_splits(Hkv, rows) * (hd + 4);
}

void attention_decode(const float* q, int64_t rows, const DecodeSeqs& seqs, int Hq, int Hkv, int hd,
                      const KvView& kv, float* workspace, float* out, cudaStream_t stream) {
  if (rows == 0) return;
  static const bool configured = [] {  // the largest group (32 query heads, hd 128) needs 49 KB
    NAGENT_CUDA_CHECK(cudaFuncSetAttribute(decode_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024));
    return true;
  }();
  (void)configured;
  const int splits = max_decode_splits(Hkv, rows);
  const unsigned z = static_cast<unsigned>(rows);
  const size_t smem = (size_t(Hq / Hkv) * hd + 2 * kTile * (hd + 4)) * sizeof(float);
  decode_kernel<<<dim3(Hkv, splits, z), kDecodeThreads, smem, stream>>>(q, seqs, Hq, Hkv, hd, kv,
                                                                           1.0f / std::sqrt(float(hd)), workspace);
  NAGENT_LAUNCH_CHECK();
  decode_combine_kernel<<<dim3(Hq, z), kDecodeThreads, 0, stream>>>(workspace, splits, seqs, Hq, hd, out);
  NAGENT_LAUNCH_CHECK();
}

}  // namespace nagent::engine::cuda
