// Mixture-of-experts pieces: routing (fp32 sigmoid router scores, correction bias for the
// choice only, group-limited top-k; a warp per token), routed-expert GEMV for decode (expert ids read on the
// device, no host round trip), the slots grouped by expert on the device (batched decode's
// grouped expert products), token permutation into expert order for prefill's grouped GEMMs,
// the weighted combine, and the localisation of the routing to one rank's experts under expert
// parallelism (slots of other ranks' experts get id -1, which the grouping, the slot GEMV and the
// combine skip; the unsharded path never has one).
#include <algorithm>
#include <cmath>

#include "engine/cuda/common.cuh"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/kernels.h"

namespace nagent::engine::cuda {

namespace {

constexpr int kMaxExperts = 512;
constexpr int kMaxK = 32;

// (a, va) ranks before (b, vb): larger value, ties to the lower index; index -1 is nothing.
__device__ __forceinline__ bool ranks_before(float va, int a, float vb, int b) {
  return a >= 0 && (b < 0 || va > vb || (va == vb && a < b));
}

// The best of v[0, n) with usable[i] (ranks_before order), over the warp: every lane gets it.
__device__ __forceinline__ int warp_best(const float* v, const unsigned char* usable, int n, int lane) {
  float bv = 0.0f;
  int bi = -1;
  for (int i = lane; i < n; i += 32)
    if (usable[i] && ranks_before(v[i], i, bv, bi)) {
      bv = v[i];
      bi = i;
    }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
    const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
    if (ranks_before(ov, oi, bv, bi)) {
      bv = ov;
      bi = oi;
    }
  }
  return bi;
}

// One warp per token, mirroring engine/moe.cpp's route(): the same picks in the same order,
// the same float operations for the group scores and the weights.
__global__ void __launch_bounds__(32) route_kernel(const float* logits, const float* bias, int64_t T, RouteConfig rc,
                                                   int32_t* ids, float* weights) {
  const int64_t t = blockIdx.x;
  const int lane = threadIdx.x;
  const int E = rc.E;
  __shared__ float score[kMaxExperts], choice[kMaxExperts], gscore[kMaxExperts];
  __shared__ unsigned char usable[kMaxExperts], gusable[kMaxExperts];
  __shared__ int chosen[kMaxK];
  for (int e = lane; e < E; e += 32) {
    score[e] = 1.0f / (1.0f + expf(-logits[t * E + e]));
    choice[e] = score[e] + bias[e];
    usable[e] = 1;
  }
  __syncwarp();
  if (rc.n_group > 1) {
    // A group scores the sum of its two best choices; only the topk_group best groups stay.
    const int per = E / rc.n_group;
    for (int g = 0; g < rc.n_group; ++g) {
      const int a = warp_best(choice + g * per, usable + g * per, per, lane);
      __syncwarp();
      if (lane == 0) usable[g * per + a] = 0;
      __syncwarp();
      const int b = warp_best(choice + g * per, usable + g * per, per, lane);
      __syncwarp();
      if (lane == 0) {
        usable[g * per + a] = 1;
        gscore[g] = choice[g * per + a] + (b >= 0 ? choice[g * per + b] : 0.0f);
        gusable[g] = 1;
      }
      __syncwarp();
    }
    for (int i = 0; i < rc.topk_group; ++i) {
      const int g = warp_best(gscore, gusable, rc.n_group, lane);
      __syncwarp();
      if (lane == 0 && g >= 0) gusable[g] = 0;  // gusable 0: kept
      __syncwarp();
    }
    for (int e = lane; e < E; e += 32)
      if (gusable[e / per]) choice[e] = -INFINITY;
    __syncwarp();
  }
  for (int i = 0; i < rc.k; ++i) {
    const int e = warp_best(choice, usable, E, lane);
    __syncwarp();
    if (lane == 0) {
      chosen[i] = e;
      usable[e] = 0;
    }
    __syncwarp();
  }
  if (lane == 0) {
    float sum = 0.0f;
    for (int i = 0; i < rc.k; ++i) sum += score[chosen[i]];
    const float scale = rc.scaling / (rc.norm_topk ? sum + 1e-20f : 1.0f);
    for (int i = 0; i < rc.k; ++i) {
      ids[t * rc.k + i] = chosen[i];
      weights[t * rc.k + i] = score[chosen[i]] * scale;
    }
  }
}

// Warp per (slot, output row), grid-stride.
__global__ void expert_gemv_kernel(const bf16* W, int64_t stride, const int32_t* ids, int64_t S, const float* x,
                                   int64_t ldx, int x_div, int64_t K, int64_t N, bool relu2, float* y) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x >> 5);
  for (int64_t w = blockIdx.x * int64_t(blockDim.x >> 5) + (threadIdx.x >> 5); w < S * N; w += warps) {
    const int64_t s = w / N, n = w % N;
    if (ids[s] < 0) continue;  // another rank's expert: no output row (the combine skips it)
    const bf16* row = W + ids[s] * stride + n * K;
    float acc = warp_sum(lane_dot_bf16(row, x + (s / x_div) * ldx, K, lane));
    if (relu2) {
      acc = fmaxf(acc, 0.0f);
      acc *= acc;
    }
    if (lane == 0) y[s * N + n] = acc;
  }
}

// One warp: the ids into shared memory, counts per expert, their exclusive prefix (each lane a
// contiguous run of experts, then a warp scan), the list of experts in use, then the slots
// placed in rounds of 32 in slot order (__match_any_sync ranks the lanes that share an expert),
// so the grouping is stable and the same on every run.
constexpr int kMaxGroupSlots = 10240;  // the ids in shared memory (40 KiB, within the default 48)
__global__ void __launch_bounds__(32) group_kernel(const int32_t* ids, int64_t S, int E, ExpertGroups g) {
  const int lane = threadIdx.x;
  __shared__ int count[kMaxExperts], fill[kMaxExperts];
  extern __shared__ int sid[];  // [S]
  for (int e = lane; e < E; e += 32) count[e] = 0;
  for (int64_t s = lane; s < S; s += 32) sid[s] = ids[s];
  __syncwarp();
  for (int64_t s = lane; s < S; s += 32)
    if (sid[s] >= 0) atomicAdd(&count[sid[s]], 1);  // -1: another rank's expert, in no group
  __syncwarp();
  const int per = (E + 31) / 32, e0 = min(E, lane * per), e1 = min(E, e0 + per);
  int run = 0, used = 0;
  for (int e = e0; e < e1; ++e) {
    run += count[e];
    used += count[e] > 0;
  }
  int run_before = run, used_before = used;  // inclusive scans over the lanes, then exclusive
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const int a = __shfl_up_sync(0xffffffffu, run_before, o), b = __shfl_up_sync(0xffffffffu, used_before, o);
    if (lane >= o) {
      run_before += a;
      used_before += b;
    }
  }
  run_before -= run;
  used_before -= used;
  for (int e = e0; e < e1; ++e) {
    g.offsets[e] = run_before;
    fill[e] = run_before;
    run_before += count[e];
    if (count[e] > 0) g.experts[used_before++] = e;
  }
  if (lane == 31) {
    g.offsets[E] = run_before;  // = the slots with an expert here (S on one GPU)
    *g.n_experts = used_before;
  }
  __syncwarp();
  const unsigned lower = (1u << lane) - 1;
  for (int64_t base = 0; base < S; base += 32) {
    const int64_t s = base + lane;
    const int e = s < S ? sid[s] : -1;  // lanes past S and remote slots: a group that writes nothing
    const unsigned same = __match_any_sync(0xffffffffu, e);
    if (e >= 0) g.slots[fill[e] + __popc(same & lower)] = static_cast<int32_t>(s);
    __syncwarp();
    if (e >= 0 && (same & lower) == 0) fill[e] += __popc(same);  // the group's first lane
    __syncwarp();
  }
}

// A block per row (grid-stride over rows), threads over its columns: four at a time when L % 4
// == 0 and the bases are aligned (vec), else one.
__global__ void gather_kernel(const float* x, int64_t L, const int32_t* rows, int64_t n, bf16* out, bool vec) {
  for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    const float* src = x + int64_t(rows[i]) * L;
    bf16* dst = out + i * L;
    if (vec) {
      for (int64_t c = threadIdx.x; c < L / 4; c += blockDim.x) {
        const float4 v = reinterpret_cast<const float4*>(src)[c];
        const __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y), hi = __floats2bfloat162_rn(v.z, v.w);
        uint2 packed;
        packed.x = *reinterpret_cast<const uint32_t*>(&lo);
        packed.y = *reinterpret_cast<const uint32_t*>(&hi);
        reinterpret_cast<uint2*>(dst)[c] = packed;
      }
    } else {
      for (int64_t c = threadIdx.x; c < L; c += blockDim.x) dst[c] = __float2bfloat16(src[c]);
    }
  }
}

// Block per token (grid-stride), threads over columns as gather_kernel; the slots summed in
// order j = 0..k-1 in both paths. local_ids (null on one GPU): slots whose id is -1 add nothing
// (their ys rows were not written).
__global__ void combine_kernel(const float* ys, int64_t L, const int32_t* slot_row, const int32_t* local_ids,
                               const float* weights, int64_t T, int k, float* out, bool vec) {
  for (int64_t t = blockIdx.x; t < T; t += gridDim.x) {
    if (vec) {
      for (int64_t c = threadIdx.x; c < L / 4; c += blockDim.x) {
        float4 acc = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        for (int j = 0; j < k; ++j) {
          const int64_t s = t * k + j;
          if (local_ids && local_ids[s] < 0) continue;
          const float w = weights[s];
          const float4 y = reinterpret_cast<const float4*>(ys + (slot_row ? slot_row[s] : s) * L)[c];
          acc.x += w * y.x;
          acc.y += w * y.y;
          acc.z += w * y.z;
          acc.w += w * y.w;
        }
        reinterpret_cast<float4*>(out + t * L)[c] = acc;
      }
    } else {
      for (int64_t c = threadIdx.x; c < L; c += blockDim.x) {
        float acc = 0.0f;
        for (int j = 0; j < k; ++j) {
          const int64_t s = t * k + j;
          if (local_ids && local_ids[s] < 0) continue;
          acc += weights[s] * ys[(slot_row ? slot_row[s] : s) * L + c];
        }
        out[t * L + c] = acc;
      }
    }
  }
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }
int row_blocks(int64_t rows) { return static_cast<int>(std::min<int64_t>(rows, 65535)); }

__global__ void localize_kernel(int32_t* ids, int64_t S, int first, int count) {
  const int64_t s = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (s >= S) return;
  const int local = ids[s] - first;
  ids[s] = local >= 0 && local < count ? local : -1;
}

}  // namespace

void moe_route(const float* logits, const float* correction_bias, int64_t T, const RouteConfig& rc, int32_t* ids,
               float* weights, cudaStream_t stream) {
  if (rc.E > kMaxExperts || rc.k > kMaxK) throw std::invalid_argument("MoE routing: at most 512 experts, top-32");
  if (T == 0) return;
  route_kernel<<<static_cast<unsigned>(T), 32, 0, stream>>>(logits, correction_bias, T, rc, ids, weights);
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

void moe_group(const int32_t* ids, int64_t S, int E, const ExpertGroups& g, cudaStream_t stream) {
  if (E > kMaxExperts || S > kMaxGroupSlots)
    throw std::invalid_argument("MoE grouping: at most 512 experts and 10240 slots");
  if (S == 0) return;
  group_kernel<<<1, 32, S * sizeof(int), stream>>>(ids, S, E, g);
  NAGENT_LAUNCH_CHECK();
}

void gather_rows_bf16(const float* x, int64_t L, const int32_t* rows, int64_t n, bf16* out, cudaStream_t stream) {
  if (n == 0) return;
  const bool vec = L % 4 == 0 && aligned16(x) && (reinterpret_cast<uintptr_t>(out) & 7) == 0;
  gather_kernel<<<row_blocks(n), 256, 0, stream>>>(x, L, rows, n, out, vec);
  NAGENT_LAUNCH_CHECK();
}

void moe_combine(const float* ys, int64_t L, const int32_t* slot_row, const int32_t* local_ids, const float* weights,
                 int64_t T, int k, float* out, cudaStream_t stream) {
  if (T == 0) return;
  const bool vec = L % 4 == 0 && aligned16(ys) && aligned16(out);
  combine_kernel<<<row_blocks(T), 256, 0, stream>>>(ys, L, slot_row, local_ids, weights, T, k, out, vec);
  NAGENT_LAUNCH_CHECK();
}

void moe_localize(int32_t* ids, int64_t S, int first, int count, cudaStream_t stream) {
  if (S == 0) return;
  localize_kernel<<<blocks_for(S, 256), 256, 0, stream>>>(ids, S, first, count);
  NAGENT_LAUNCH_CHECK();
}

}  // namespace nagent::engine::cuda
