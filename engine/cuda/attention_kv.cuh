// The paged KV cache as the attention kernels address it (attention.cu, attention_decode.cu).
#pragma once

#include <stdexcept>
#include <type_traits>

#include "engine/cuda/common.cuh"
#include "engine/cuda/mma.cuh"

namespace nagent::engine::cuda {

constexpr int kMaxHeadDim = 128;  // the attention kernels' register tiles hold up to this

// Row of key (which = 0) or value (1) j in this layer's slot of the sequence's pages. Positions
// are int32 (DecodeSeqs), so the page arithmetic is 32-bit: a 64-bit division costs a call.
__device__ __forceinline__ bf16* kv_row(const KvView& kv, int64_t j, int which) {
  const int jj = static_cast<int>(j);
  const int64_t page = kv.pages[jj / kv.page_size];
  return kv.pool + ((page * kv.slots + kv.slot) * 2 + which) * int64_t(kv.page_size) * kv.kvd +
         int64_t(jj % kv.page_size) * kv.kvd;
}

// Keys [j0, j0 + kKeys) of kv head kvh into ks / vs ([kKeys][HD + 8] bf16, rows 16-byte
// aligned and ldmatrix-conflict-free), zeros from `end` on, by cp.async (the caller commits),
// kThreads threads. The trip count is known at compile time, so the page-table reads of all
// the thread's rows are in flight together.
template <int HD, int kKeys, int kThreads>
__device__ __forceinline__ void issue_kv_tile(const KvView& kv, int64_t j0, int64_t end, int kvh, bf16* ks, bf16* vs) {
  constexpr int kVecs = HD / 8, kLd = HD + 8, kIters = (kKeys * kVecs + kThreads - 1) / kThreads;
#pragma unroll
  for (int it = 0; it < kIters; ++it) {
    const int i = threadIdx.x + it * kThreads;
    if ((kKeys * kVecs) % kThreads != 0 && i >= kKeys * kVecs) break;
    const int jj = i / kVecs, vec = i % kVecs;
    const int64_t j = j0 + jj;
    const bool valid = j < end;
    const bf16* k_src = valid ? kv_row(kv, j, 0) + kvh * HD + vec * 8 : kv.pool;
    const bf16* v_src = valid ? k_src + int64_t(kv.page_size) * kv.kvd : kv.pool;  // kv_row(kv, j, 1)
    cp_async16(ks + jj * kLd + vec * 8, k_src, valid);
    cp_async16(vs + jj * kLd + vec * 8, v_src, valid);
  }
}

// Calls f(std::integral_constant<int, HD>{}) for head_dim hd, a multiple of 16 up to
// kMaxHeadDim (the tensor-core kernels take HD as a template parameter, so their tile loops
// and fragment arrays are sized at compile time).
template <typename F>
void with_mma_head_dim(int hd, F&& f) {
  switch (hd) {
    case 16: f(std::integral_constant<int, 16>{}); break;
    case 32: f(std::integral_constant<int, 32>{}); break;
    case 48: f(std::integral_constant<int, 48>{}); break;
    case 64: f(std::integral_constant<int, 64>{}); break;
    case 80: f(std::integral_constant<int, 80>{}); break;
    case 96: f(std::integral_constant<int, 96>{}); break;
    case 112: f(std::integral_constant<int, 112>{}); break;
    case 128: f(std::integral_constant<int, 128>{}); break;
    default: throw std::invalid_argument("attention: tensor-core head_dim must be a multiple of 16 up to 128");
  }
}

}  // namespace nagent::engine::cuda
