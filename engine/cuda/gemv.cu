// Bandwidth-bound matrix-vector products for the decode step (kernels.h, "gemv.cu"): the dense
// projections of one token, the routed experts of a few slots (expert ids read on the device),
// the experts' down projection fused with the weighted combine, the routed experts of many
// slots grouped by expert (batched decode; group_mv_kernel below), and the fp32 router.
//
// One kernel shape (mv_kernel) serves all but the grouped experts (their persistent cp.async
// ring kernel is described where it is defined): a block of 256 threads takes 8 / WPR output
// rows, WPR warps per row (WPR = 1, 2 or 4, chosen so the grid holds enough warps to fill the
// GPU when rows are few). Each lane streams 16-byte chunks of its row (8 bf16) with L1-bypassing
// loads, four issued before the first is used; consecutive lanes read consecutive chunks, so a
// warp reads 512 contiguous bytes per load. The fp32 activations are read through the L1 (they
// are small and every row of the block reuses them). Partial sums: warp shuffles, then the WPR
// warps of a row in a fixed order (deterministic).
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
#include <stdexcept>
#include <string>

#include "engine/cuda/common.cuh"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/kernels.h"
#include "engine/cuda/per_device_once.h"

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

// The grouped experts' arguments (expert_group_mv).
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

// Grouped experts (batched decode): one persistent block of kRingWarps warps per SM. The
// work is a list of units (expert, pass over up to G of its slots, tile of kRingTile output
// rows), in the order of g.experts, then pass, then tile; block b takes the b-th of gridDim.x
// equal runs of it (every unit reads the same weight bytes; an expert with more than G slots
// reads its rows once per pass, and each pass counts fully in the split). G = kRingSlots unless
// the activations of that many slots do not fit in shared memory (K over about 3000).
//
// Weights: warp w takes rows w*kRingRows.. of each tile of its block's run, in steps of
// kRingChunks 16-byte chunks per row (one per lane), streamed through the warp's own ring of
// kRingStages steps in shared memory by cp.async: each lane copies, and later reads, only its
// own chunks, so the ring needs no barrier, and the copies run kRingStages - 1 steps ahead of
// the arithmetic, across unit boundaries, with no registers held for them.
// Activations: the G (or fewer) rows of a pass, whole, in shared memory, copied by the block
// when its run reaches a new pass (between two block barriers, a few times per run), so that
// the arithmetic never waits on the L2 for them. Each activation chunk read serves the warp's
// kRingRows rows; the unit's slot count picks code with all loads of a step before its
// arithmetic. Each sum runs over the row's chunks in order, eight products per chunk in dot8's
// order (a slot's result does not depend on which other slots share its pass).
constexpr int kRingWarps = 8;
constexpr int kRingThreads = kRingWarps * 32;
constexpr int kRingRows = 8;  // per warp
constexpr int kRingTile = kRingWarps * kRingRows;
constexpr int kRingChunks = 32;  // per row and step: one per lane
constexpr int kRingStages = 4;
constexpr int kRingSlots = 8;
constexpr int kRingStep = kRingRows * kRingChunks;                     // uint4 per warp and step
constexpr int kRingSmem = kRingWarps * kRingStages * kRingStep * 16;  // 128 KiB, then the activations

// A warp's position in its block's run (warp-uniform).
struct RingCursor {
  int64_t left;     // units still to do, this one included
  int i;            // index into g.experts
  int e, first, m;  // experts[i], its first slot in g.slots, its slot count
  int g, t, kc;     // pass (slots g*G..), row tile, step (chunks kc*kRingChunks..)
};

__device__ __forceinline__ void ring_expert(RingCursor& c, const ExpertGroups& g) {
  c.e = g.experts[c.i];
  c.first = g.offsets[c.e];
  c.m = g.offsets[c.e + 1] - c.first;
}

// The next step: chunks, then tile, then pass, then expert (past any with no slots). Moves to
// a next unit only while one is left (left > 0), so i stays below n.
__device__ __forceinline__ void ring_next(RingCursor& c, const ExpertGroups& g, int n, int tiles, int steps,
                                          int G) {
  if (++c.kc < steps) return;
  c.kc = 0;
  if (--c.left == 0) return;
  if (++c.t < tiles) return;
  c.t = 0;
  if (++c.g * G < c.m) return;
  c.g = 0;
  do {
    ++c.i;
    ring_expert(c, g);
  } while (c.m == 0 && c.i + 1 < n);
}

__device__ __forceinline__ void ring_copy16(void* dst, const void* src) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(s), "l"(src) : "memory");
}
__device__ __forceinline__ void ring_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
// This thread's copies of all but the last kRingStages - 1 committed groups have landed.
__device__ __forceinline__ void ring_wait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(kRingStages - 1) : "memory");
}

// Lane `lane`'s chunk kc*kRingChunks + lane of step c for the warp's kRingRows rows into
// `stage` [row][chunk]; rows past N: row N-1 again (never written out); past the row's end:
// nothing.
__device__ __forceinline__ void ring_issue(const GroupArgs& a, const RingCursor& c, uint4* stage, int warp,
                                           int lane) {
  const int i = c.kc * kRingChunks + lane;
  if (i >= a.K8) return;
  const int64_t n0 = int64_t(c.t) * kRingTile + warp * kRingRows;
  const uint4* we = reinterpret_cast<const uint4*>(a.W + int64_t(c.e) * a.stride) + i;
  if (n0 + kRingRows <= a.N) {
    const uint4* p = we + n0 * a.K8;
#pragma unroll
    for (int r = 0; r < kRingRows; ++r) ring_copy16(stage + r * kRingChunks + lane, p + int64_t(r) * a.K8);
  } else {
#pragma unroll
    for (int r = 0; r < kRingRows; ++r)
      ring_copy16(stage + r * kRingChunks + lane, we + min64(n0 + r, a.N - 1) * a.K8);
  }
}

// Slots J0..J0+MJ-1 of one step: acc[r][j] += w[r] . x_j over this lane's chunk i (w: the
// lane's chunk of row 0 in the stage; xs: the pass's activations, [slot][half][K8] float4, half
// 0 the chunk's first four values), the products in dot8's order. All loads come first; each
// row's weights are unpacked once for all slots (bf16 -> fp32 is exact: the low value shifted
// up, the high one masked).
template <int J0, int MJ>
__device__ __forceinline__ void ring_slots(const uint4* w8, const float4* xs, int K8, int i,
                                           float (&acc)[kRingRows][kRingSlots]) {
  uint4 w[kRingRows];
#pragma unroll
  for (int r = 0; r < kRingRows; ++r) w[r] = w8[r * kRingChunks];
  float4 xa[MJ], xb[MJ];
#pragma unroll
  for (int j = 0; j < MJ; ++j) {
    xa[j] = xs[(2 * (J0 + j)) * K8 + i];
    xb[j] = xs[(2 * (J0 + j) + 1) * K8 + i];
  }
#pragma unroll
  for (int r = 0; r < kRingRows; ++r) {
    const uint32_t u[4] = {w[r].x, w[r].y, w[r].z, w[r].w};
    float f[8];
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      f[2 * q] = __uint_as_float(u[q] << 16);
      f[2 * q + 1] = __uint_as_float(u[q] & 0xffff0000u);
    }
#pragma unroll
    for (int j = 0; j < MJ; ++j) {
      float v = acc[r][J0 + j];
      v = fmaf(f[0], xa[j].x, v);
      v = fmaf(f[1], xa[j].y, v);
      v = fmaf(f[2], xa[j].z, v);
      v = fmaf(f[3], xa[j].w, v);
      v = fmaf(f[4], xb[j].x, v);
      v = fmaf(f[5], xb[j].y, v);
      v = fmaf(f[6], xb[j].z, v);
      v = fmaf(f[7], xb[j].w, v);
      acc[r][J0 + j] = v;
    }
  }
}

// G: slots per pass, 1..kRingSlots; dynamic shared memory kRingSmem + G * K8 * 32 bytes.
__global__ void __launch_bounds__(kRingThreads, 1) group_mv_kernel(GroupArgs a, int G) {
  extern __shared__ uint4 ring[];  // [warp][stage][row][chunk], then the activations
  float4* xs = reinterpret_cast<float4*>(ring + kRingWarps * kRingStages * kRingStep);
  __shared__ int warp_pairs[kRingWarps];
  __shared__ int start[5];  // the block's first unit: i, g, e, first, m
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int n = *a.g.n_experts;
  const int tiles = static_cast<int>((a.N + kRingTile - 1) / kRingTile);
  const int steps = (a.K8 + kRingChunks - 1) / kRingChunks;
  // (expert, pass) pairs: each thread counts those of a contiguous run of experts, an exclusive
  // scan over the block places them; units = pairs * tiles.
  const int per = (n + kRingThreads - 1) / kRingThreads;
  const int i0 = min(n, int(threadIdx.x) * per), i1 = min(n, i0 + per);
  int mine = 0;
  for (int i = i0; i < i1; ++i) {
    const int e = a.g.experts[i];
    mine += (a.g.offsets[e + 1] - a.g.offsets[e] + G - 1) / G;
  }
  int incl = mine;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const int v = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane >= o) incl += v;
  }
  if (lane == 31) warp_pairs[warp] = incl;
  __syncthreads();
  int before = incl - mine, pairs = 0;
#pragma unroll
  for (int w = 0; w < kRingWarps; ++w) {
    const int s = warp_pairs[w];
    before += w < warp ? s : 0;
    pairs += s;
  }
  const int64_t units = int64_t(pairs) * tiles;
  const int64_t u0 = units * blockIdx.x / gridDim.x, u1 = units * (blockIdx.x + 1) / gridDim.x;
  if (u0 == u1) return;  // the same for the whole block
  const int64_t p0 = u0 / tiles;
  if (p0 >= before && p0 < before + mine) {  // exactly one thread: the one whose run holds pair p0
    int64_t p = before;
    for (int i = i0; i < i1; ++i) {
      const int e = a.g.experts[i];
      const int first = a.g.offsets[e], m = a.g.offsets[e + 1] - first;
      const int np = (m + G - 1) / G;
      if (p0 < p + np) {
        start[0] = i;
        start[1] = static_cast<int>(p0 - p);
        start[2] = e;
        start[3] = first;
        start[4] = m;
        break;
      }
      p += np;
    }
  }
  __syncthreads();
  RingCursor cc;  // the step being computed (the same sequence in every warp of the block)
  cc.left = u1 - u0;
  cc.i = start[0];
  cc.g = start[1];
  cc.e = start[2];
  cc.first = start[3];
  cc.m = start[4];
  cc.t = static_cast<int>(u0 % tiles);
  cc.kc = 0;
  RingCursor pc = cc;  // the next step to copy, kRingStages ahead of cc
  uint4* own = ring + warp * (kRingStages * kRingStep);
#pragma unroll
  for (int s = 0; s < kRingStages; ++s) {
    if (pc.left > 0) {
      ring_issue(a, pc, own + s * kRingStep, warp, lane);
      ring_next(pc, a.g, n, tiles, steps, G);
    }
    ring_commit();  // one group per step, empty past the end
  }
  float acc[kRingRows][kRingSlots];
  int my_slot = 0;  // lane j < mj: slot j of the pass
  int mj = 0, stage = 0;
  bool staged = false;
  while (cc.left > 0) {
    if (cc.kc == 0) {  // a new unit: its slots, zero sums
      const int j0 = cc.g * G;
      mj = min(G, cc.m - j0);
      my_slot = a.g.slots[cc.first + j0 + min(lane, mj - 1)];
      if (!staged || cc.t == 0) {  // a new pass (the same units, so the same moment, in every warp)
        staged = true;
        const int my_row = my_slot / a.x_div;
        __syncthreads();  // every warp is done with the last pass's activations
        for (int j = 0; j < mj; ++j) {
          const float4* src = reinterpret_cast<const float4*>(a.x + int64_t(__shfl_sync(0xffffffffu, my_row, j)) * a.ldx);
          for (int c = threadIdx.x; c < 2 * a.K8; c += kRingThreads)
            ring_copy16(xs + (2 * j + (c & 1)) * a.K8 + (c >> 1), src + c);
        }
        // All of this thread's copies, the ring's too (the groups committed later keep their
        // kRingStages - 1 steps of slack); then everyone's activations are in.
        asm volatile("cp.async.wait_all;" ::: "memory");
        __syncthreads();
      }
#pragma unroll
      for (int r = 0; r < kRingRows; ++r)
#pragma unroll
        for (int j = 0; j < kRingSlots; ++j) acc[r][j] = 0.0f;
    }
    ring_wait();  // this step's group (committed kRingStages groups ago) has landed
    const int i = cc.kc * kRingChunks + lane;
    if (i < a.K8) {
      const uint4* w8 = own + stage * kRingStep + lane;
      switch (mj) {  // exact slot counts: no per-slot branches
        case 1: ring_slots<0, 1>(w8, xs, a.K8, i, acc); break;
        case 2: ring_slots<0, 2>(w8, xs, a.K8, i, acc); break;
        case 3: ring_slots<0, 3>(w8, xs, a.K8, i, acc); break;
        case 4: ring_slots<0, 4>(w8, xs, a.K8, i, acc); break;
        case 5: ring_slots<0, 4>(w8, xs, a.K8, i, acc); ring_slots<4, 1>(w8, xs, a.K8, i, acc); break;
        case 6: ring_slots<0, 4>(w8, xs, a.K8, i, acc); ring_slots<4, 2>(w8, xs, a.K8, i, acc); break;
        case 7: ring_slots<0, 4>(w8, xs, a.K8, i, acc); ring_slots<4, 3>(w8, xs, a.K8, i, acc); break;
        default: ring_slots<0, 4>(w8, xs, a.K8, i, acc); ring_slots<4, 4>(w8, xs, a.K8, i, acc); break;
      }
    }
    if (cc.kc == steps - 1) {  // the unit's last step: the sums out
      const int64_t n0 = int64_t(cc.t) * kRingTile + warp * kRingRows;
#pragma unroll
      for (int j = 0; j < kRingSlots; ++j) {
        if (j >= mj) break;
        const int slot = __shfl_sync(0xffffffffu, my_slot, j);
#pragma unroll
        for (int r = 0; r < kRingRows; ++r) {
          float v = warp_sum(acc[r][j]);
          if (a.relu2) {
            v = fmaxf(v, 0.0f);
            v *= v;
          }
          if (lane == 0 && n0 + r < a.N) a.y[int64_t(slot) * a.N + n0 + r] = v;
        }
      }
    }
    // The stage just read takes the step kRingStages ahead (this lane's own chunks: the reads
    // above are this thread's, before the copy in program order).
    if (pc.left > 0) {
      ring_issue(a, pc, own + stage * kRingStep, warp, lane);
      ring_next(pc, a.g, n, tiles, steps, G);
    }
    ring_commit();
    ring_next(cc, a.g, n, tiles, steps, G);
    stage = stage + 1 == kRingStages ? 0 : stage + 1;
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

void expert_group_mv(const bf16* W, int64_t expert_stride, const ExpertGroups& g, int64_t S, const float* x,
                     int64_t ldx, int x_div, int64_t K, int64_t N, bool relu2, float* y, cudaStream_t stream) {
  if (S == 0 || N == 0) return;
  const GroupArgs a{W, expert_stride, g, x, ldx, x_div, N, static_cast<int>(K / 8), y, relu2};
  // Shared memory: the ring, then the activations of G slots (G as large as fits, at most
  // kRingSlots).
  // The same on every GPU of the node (sm_count() assumes so too); the attributes are set on
  // each device the first time it launches the kernel.
  static const int smem_max = [] {
    int dev = 0, optin = 0;
    NAGENT_CUDA_CHECK(cudaGetDevice(&dev));
    NAGENT_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    cudaFuncAttributes fa{};
    NAGENT_CUDA_CHECK(cudaFuncGetAttributes(&fa, group_mv_kernel));
    return optin - static_cast<int>(fa.sharedSizeBytes);
  }();
  static PerDeviceOnce configured;
  configured.run([] {
    NAGENT_CUDA_CHECK(
        cudaFuncSetAttribute(group_mv_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem_max));
    NAGENT_CUDA_CHECK(cudaFuncSetAttribute(group_mv_kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                           cudaSharedmemCarveoutMaxShared));
  });
  const int64_t per_slot = int64_t(a.K8) * 32;  // K fp32 activations
  const int G = static_cast<int>(std::min<int64_t>(kRingSlots, (smem_max - kRingSmem) / per_slot));
  if (G < 1) throw std::invalid_argument("expert_group_mv: K too large for the activations in shared memory");
  const size_t smem = size_t(kRingSmem) + size_t(G) * size_t(per_slot);
  group_mv_kernel<<<sm_count(), kRingThreads, smem, stream>>>(a, G);
  NAGENT_LAUNCH_CHECK();
}

void router_logits(const float* W, int64_t E, int64_t K, const float* x, int64_t T, float* logits,
                   cudaStream_t stream) {
  if (T == 0 || E == 0) return;
  router_kernel<<<dim3(static_cast<unsigned>(E), static_cast<unsigned>(T)), 128, 0, stream>>>(W, E, K, x, logits);
  NAGENT_LAUNCH_CHECK();
}

}  // namespace nagent::engine::cuda
