// Bandwidth-bound matrix-vector products for the decode step (kernels.h, "gemv.cu"): the dense
// projections of one token, the routed experts of a few slots (expert ids read on the device),
// the experts' down projection fused with the weighted combine, the routed experts of many
// slots grouped by expert (batched decode; group_mv_kernel below), and the fp32 router.
//
// One kernel shape serves all: a block of 256 threads takes 8 / WPR output rows, WPR warps per
// row (WPR = 1, 2 or 4, chosen so the grid holds enough warps to fill the GPU when rows are
// few). Each lane streams 16-byte chunks of its row (8 bf16) with L1-bypassing loads, four
// issued before the first is used; consecutive lanes read consecutive chunks, so a warp reads
// 512 contiguous bytes per load. The fp32 activations are read through the L1 (they are small
// and every row of the block reuses them). Partial sums: warp shuffles, then the WPR warps of a
// row in a fixed order (deterministic).
//
// Programmatic dependent launch (set_pdl(true), NAGENT_CUDA_PDL=1; off by default): the kernels
// are then launched so that they may start while the kernel before them finishes; each block
// first prefetches into L2 the weight chunks of its first row (weights do not depend on the
// previous kernel), then waits for the previous kernel (griddepcontrol.wait) before it reads
// any activation, expert id or output. Blocks let the next kernel start once they are on their
// last row. Without the launch attribute both instructions do nothing.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>

#include "engine/cuda/common.cuh"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/kernels.h"

namespace nagent::engine::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kUnroll = 4;  // 16-byte loads in flight per lane

__device__ __forceinline__ uint4 ld_stream(const uint4* p) {
  uint4 r;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
      : "l"(p));
  return r;
}

__device__ __forceinline__ float dot8(const uint4& raw, const float4& xa, const float4& xb, float acc) {
  const __nv_bfloat162* p = reinterpret_cast<const __nv_bfloat162*>(&raw);
  const float2 w0 = __bfloat1622float2(p[0]), w1 = __bfloat1622float2(p[1]);
  const float2 w2 = __bfloat1622float2(p[2]), w3 = __bfloat1622float2(p[3]);
  acc = fmaf(w0.x, xa.x, acc);
  acc = fmaf(w0.y, xa.y, acc);
  acc = fmaf(w1.x, xa.z, acc);
  acc = fmaf(w1.y, xa.w, acc);
  acc = fmaf(w2.x, xb.x, acc);
  acc = fmaf(w2.y, xb.y, acc);
  acc = fmaf(w3.x, xb.z, acc);
  acc = fmaf(w3.y, xb.w, acc);
  return acc;
}

// This thread's share (thread q of the LPR threads of the row) of dot(w, x) over K8 chunks of 8.
template <int LPR>
__device__ __forceinline__ float row_share(const bf16* w, const float* x, int K8, int q, float acc) {
  const uint4* w8 = reinterpret_cast<const uint4*>(w);
  const float4* x4 = reinterpret_cast<const float4*>(x);
  for (int base = q; base < K8; base += LPR * kUnroll) {
    uint4 r[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int i = base + u * LPR;
      r[u] = i < K8 ? ld_stream(w8 + i) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int i = base + u * LPR;
      if (i < K8) acc = dot8(r[u], __ldg(x4 + 2 * i), __ldg(x4 + 2 * i + 1), acc);
    }
  }
  return acc;
}

std::atomic<int> pdl_mode{-1};  // -1: not read from the environment yet

__device__ __forceinline__ void wait_for_previous_kernel() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void let_next_kernel_start() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

struct MvArgs {
  const bf16* W;
  int64_t stride;        // between experts (elements)
  const int32_t* ids;    // expert of each slot; null: one dense matrix
  const float* x;
  int64_t ldx;
  int x_div;             // plain: slot s reads x row s / x_div
  const float* weights;  // combine: slot weights [T, k]
  int k;                 // combine: slots per token
  int64_t items, N;      // items: output rows over all slots (plain) or tokens (combine)
  int K8;
  float* y;
  int64_t ldy;
  bool relu2, accumulate;
};

// Plain: item = (slot s, row n): y[s * ldy + n] = act(W_{ids[s]}[n] . x_{s / x_div}).
// Combine: item = (token t, row n): y[t * ldy + n] = sum_j weights[t, j] W_{ids[t, j]}[n] . x_{t k + j}.
template <int WPR, bool COMBINE>
__global__ void __launch_bounds__(kThreads) mv_kernel(MvArgs a) {
  constexpr int kRows = (kThreads / 32) / WPR;
  __shared__ float part[kThreads / 32];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int r = warp / WPR, q = (warp % WPR) * 32 + lane;
  const int64_t K = int64_t(a.K8) * 8;
  if (!a.ids) {  // dense: the first row's chunks into L2 while the previous kernel finishes
    const int64_t it = int64_t(blockIdx.x) * kRows + r;
    if (it < a.items) {
      const uint4* w8 = reinterpret_cast<const uint4*>(a.W + (it % a.N) * K);
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int i = q + u * 32 * WPR;
        if (i < a.K8) asm volatile("prefetch.global.L2 [%0];" ::"l"(w8 + i));
      }
    }
  }
  wait_for_previous_kernel();
  for (int64_t it0 = int64_t(blockIdx.x) * kRows; it0 < a.items; it0 += int64_t(gridDim.x) * kRows) {
    if (it0 + int64_t(gridDim.x) * kRows >= a.items) let_next_kernel_start();  // this block's last row
    const int64_t it = it0 + r;
    const bool live = it < a.items;
    const int64_t s = live ? it / a.N : 0, n = live ? it % a.N : 0;
    float acc = 0.0f;
    if (live) {
      if (!COMBINE) {
        const bf16* row = a.W + (a.ids ? int64_t(a.ids[s]) * a.stride : 0) + n * K;
        acc = row_share<32 * WPR>(row, a.x + (s / a.x_div) * a.ldx, a.K8, q, 0.0f);
      } else {
        for (int j = 0; j < a.k; ++j) {
          const int64_t slot = s * a.k + j;
          const bf16* row = a.W + int64_t(a.ids[slot]) * a.stride + n * K;
          acc += a.weights[slot] * row_share<32 * WPR>(row, a.x + slot * a.ldx, a.K8, q, 0.0f);
        }
      }
    }
    float v = warp_sum(acc);
    if (WPR > 1) {
      if (lane == 0) part[warp] = v;
      __syncthreads();
      v = 0.0f;
#pragma unroll
      for (int i = 0; i < WPR; ++i) v += part[r * WPR + i];
      __syncthreads();  // part is rewritten by the next item
    }
    if (live && q == 0) {
      if (a.relu2) {
        v = fmaxf(v, 0.0f);
        v *= v;
      }
      float* dst = a.y + s * a.ldy + n;
      *dst = a.accumulate ? *dst + v : v;
    }
  }
}

int sm_count() {
  static const int n = [] {
    int dev = 0, sms = 0;
    NAGENT_CUDA_CHECK(cudaGetDevice(&dev));
    NAGENT_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    return std::max(1, sms);
  }();
  return n;
}

template <bool COMBINE>
void launch_mv(const MvArgs& a, cudaStream_t stream) {
  if (a.items == 0) return;
  // Warps to fill the GPU: about 40 resident per SM; more warps per row when rows are few,
  // as long as each of a row's lanes still gets two or more chunks.
  const int64_t want = int64_t(sm_count()) * 40;
  int wpr = a.items >= want ? 1 : (2 * a.items >= want ? 2 : 4);
  while (wpr > 1 && a.K8 < 64 * wpr) wpr /= 2;
  const int rows = (kThreads / 32) / wpr;
  const int64_t blocks = std::min<int64_t>((a.items + rows - 1) / rows, int64_t(sm_count()) * 64);
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = dim3(static_cast<unsigned>(blocks));
  cfg.blockDim = dim3(kThreads);
  cfg.stream = stream;
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  if (pdl()) {
    cfg.attrs = &attr;
    cfg.numAttrs = 1;
  }
  switch (wpr) {
    case 1: NAGENT_CUDA_CHECK(cudaLaunchKernelEx(&cfg, mv_kernel<1, COMBINE>, a)); break;
    case 2: NAGENT_CUDA_CHECK(cudaLaunchKernelEx(&cfg, mv_kernel<2, COMBINE>, a)); break;
    default: NAGENT_CUDA_CHECK(cudaLaunchKernelEx(&cfg, mv_kernel<4, COMBINE>, a)); break;
  }
  NAGENT_LAUNCH_CHECK();
}

// Grouped experts: block (tile of kGroupRows output rows, expert index i): expert e =
// experts[i] with m slots; warp w takes rows tile*kGroupRows + w*kRowsPerWarp.., so each lane
// streams kRowsPerWarp weight rows at once and every activation chunk it loads serves all of
// them (keeping the L1 traffic for the m activation rows below the weight stream's). The slots
// go kGroupSlots at a time; an expert with more reads its rows again (rare in decode).
constexpr int kRowsPerWarp = 4;
constexpr int kGroupRows = (kThreads / 32) * kRowsPerWarp;
constexpr int kGroupSlots = 8;

struct GroupArgs {
  const bf16* W;
  int64_t stride;
  ExpertGroups g;
  const float* x;
  int64_t ldx;
  int x_div;
  int64_t N;
  int K8;
  float* y;  // [S, N], row = slot
  bool relu2;
};

__global__ void __launch_bounds__(kThreads) group_mv_kernel(GroupArgs a) {
  if (int(blockIdx.y) >= *a.g.n_experts) return;
  const int e = a.g.experts[blockIdx.y];
  const int first = a.g.offsets[e], m = a.g.offsets[e + 1] - first;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t n0 = int64_t(blockIdx.x) * kGroupRows + int64_t(warp) * kRowsPerWarp;
  if (n0 >= a.N) return;
  const int64_t K = int64_t(a.K8) * 8;
  const uint4* w8[kRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r)  // rows past N read row N-1 again and are not written
    w8[r] = reinterpret_cast<const uint4*>(a.W + int64_t(e) * a.stride + min64(n0 + r, a.N - 1) * K);
  for (int j0 = 0; j0 < m; j0 += kGroupSlots) {
    const int mj = min(kGroupSlots, m - j0);
    int slot[kGroupSlots];
    const float4* x4[kGroupSlots];
#pragma unroll
    for (int j = 0; j < kGroupSlots; ++j) {
      slot[j] = a.g.slots[first + j0 + min(j, mj - 1)];
      x4[j] = reinterpret_cast<const float4*>(a.x + int64_t(slot[j] / a.x_div) * a.ldx);
    }
    float acc[kRowsPerWarp][kGroupSlots];
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r)
#pragma unroll
      for (int j = 0; j < kGroupSlots; ++j) acc[r][j] = 0.0f;
#pragma unroll 2
    for (int i = lane; i < a.K8; i += 32) {
      uint4 w[kRowsPerWarp];
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) w[r] = ld_stream(w8[r] + i);
#pragma unroll
      for (int j = 0; j < kGroupSlots; ++j) {
        if (j < mj) {
          const float4 xa = __ldg(x4[j] + 2 * i), xb = __ldg(x4[j] + 2 * i + 1);
#pragma unroll
          for (int r = 0; r < kRowsPerWarp; ++r) acc[r][j] = dot8(w[r], xa, xb, acc[r][j]);
        }
      }
    }
#pragma unroll
    for (int j = 0; j < kGroupSlots; ++j) {
      if (j >= mj) break;
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) {
        float v = warp_sum(acc[r][j]);
        if (a.relu2) {
          v = fmaxf(v, 0.0f);
          v *= v;
        }
        if (lane == 0 && n0 + r < a.N) a.y[int64_t(slot[j]) * a.N + n0 + r] = v;
      }
    }
  }
}

// fp32 router: block per (token, expert), 128 threads, float4 loads, fixed-order reduction.
__global__ void __launch_bounds__(128) router_kernel(const float* W, int64_t E, int64_t K, const float* x,
                                                     float* logits) {
  const int64_t t = blockIdx.y, e = blockIdx.x;
  const float* w = W + e * K;
  const float* xt = x + t * K;
  float acc = 0.0f;
  if ((K & 3) == 0 && (reinterpret_cast<uintptr_t>(W) & 15) == 0 && (reinterpret_cast<uintptr_t>(x) & 15) == 0) {
    const float4* w4 = reinterpret_cast<const float4*>(w);
    const float4* x4 = reinterpret_cast<const float4*>(xt);
#pragma unroll 4
    for (int64_t i = threadIdx.x; i < K / 4; i += blockDim.x) {
      const float4 a = __ldg(w4 + i), b = __ldg(x4 + i);
      acc = fmaf(a.x, b.x, acc);
      acc = fmaf(a.y, b.y, acc);
      acc = fmaf(a.z, b.z, acc);
      acc = fmaf(a.w, b.w, acc);
    }
  } else {
    for (int64_t i = threadIdx.x; i < K; i += blockDim.x) acc = fmaf(w[i], xt[i], acc);
  }
  const float total = block_sum(acc);
  if (threadIdx.x == 0) logits[t * E + e] = total;
}

}  // namespace

bool pdl() {
  int m = pdl_mode.load();
  if (m < 0) {
    const char* e = std::getenv("NAGENT_CUDA_PDL");
    m = e && std::string(e) != "0" ? 1 : 0;
    int expected = -1;
    if (!pdl_mode.compare_exchange_strong(expected, m)) m = expected;
  }
  return m == 1;
}

void set_pdl(bool on) { pdl_mode.store(on ? 1 : 0); }

bool mv_supported(const void* W, int64_t K, const float* x, int64_t ldx) {
  return K > 0 && (K & 7) == 0 && K / 8 < (int64_t(1) << 30) && (reinterpret_cast<uintptr_t>(W) & 15) == 0 &&
         (reinterpret_cast<uintptr_t>(x) & 15) == 0 && (ldx & 3) == 0;
}

void gemv1(const bf16* W, int64_t N, int64_t K, const float* x, bool relu2, bool accumulate, float* y,
           cudaStream_t stream) {
  MvArgs a{W, 0, nullptr, x, 0, 1, nullptr, 0, N, N, static_cast<int>(K / 8), y, 0, relu2, accumulate};
  launch_mv<false>(a, stream);
}

void expert_mv(const bf16* W, int64_t expert_stride, const int32_t* ids, int64_t S, const float* x, int64_t ldx,
               int x_div, int64_t K, int64_t N, bool relu2, float* y, cudaStream_t stream) {
  MvArgs a{W, expert_stride, ids, x, ldx, x_div, nullptr, 0, S * N, N, static_cast<int>(K / 8), y, N, relu2, false};
  launch_mv<false>(a, stream);
}

void expert_mv_combine(const bf16* W, int64_t expert_stride, const int32_t* ids, const float* weights, int64_t T,
                       int k, const float* h, int64_t ldh, int64_t K, int64_t N, float* out, cudaStream_t stream) {
  MvArgs a{W, expert_stride, ids, h, ldh, 1, weights, k, T * N, N, static_cast<int>(K / 8), out, N, false, false};
  launch_mv<true>(a, stream);
}

void expert_group_mv(const bf16* W, int64_t expert_stride, const ExpertGroups& g, int64_t S, int E, const float* x,
                     int64_t ldx, int x_div, int64_t K, int64_t N, bool relu2, float* y, cudaStream_t stream) {
  if (S == 0 || N == 0) return;
  const GroupArgs a{W, expert_stride, g, x, ldx, x_div, N, static_cast<int>(K / 8), y, relu2};
  const dim3 grid(static_cast<unsigned>((N + kGroupRows - 1) / kGroupRows),
                  static_cast<unsigned>(std::min<int64_t>(E, S)));
  group_mv_kernel<<<grid, kThreads, 0, stream>>>(a);
  NAGENT_LAUNCH_CHECK();
}

void router_logits(const float* W, int64_t E, int64_t K, const float* x, int64_t T, float* logits,
                   cudaStream_t stream) {
  if (T == 0 || E == 0) return;
  router_kernel<<<dim3(static_cast<unsigned>(E), static_cast<unsigned>(T)), 128, 0, stream>>>(W, E, K, x, logits);
  NAGENT_LAUNCH_CHECK();
}

}  // namespace nagent::engine::cuda
