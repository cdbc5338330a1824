// Warp-level tensor-core pieces shared by the attention kernels: mma.sync m16n8k16 (bf16 in, fp32
// accumulate), cp.async copies, and fp32 values as bf16 hi + lo pairs (two products keep about
// 16 bits of mantissa where one bf16 term keeps 8). Fragment layouts (PTX ISA, m16n8k16 .bf16),
// with g = lane / 4 and tig = lane % 4:
//   A (16 x 16, row): regs {a0 a1}, {a2 a3}, {a4 a5}, {a6 a7} = (row g, cols 2 tig + {0, 1}),
//                     (row g + 8, same), (row g, cols + 8), (row g + 8, cols + 8);
//   B (16 x 8, col):  regs {b0 b1}, {b2 b3} = (k 2 tig + {0, 1}, n g), (k + 8, n g);
//   C/D (16 x 8):     d0 d1 = (row g, cols 2 tig + {0, 1}), d2 d3 = (row g + 8, same).
// A score tile's accumulators (two n8 tiles side by side) are then exactly the A fragment of
// the next product over those 16 keys.
#pragma once

#include <cstdint>

#include "engine/cuda/common.cuh"

namespace nagent::engine::cuda {

__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
// 16 bytes global -> shared without passing through registers; valid false: zeros.
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}
// Two bf16 of consecutive columns as one operand register (the lower column in the low half).
__device__ __forceinline__ uint32_t pack_bf16(bf16 lo, bf16 hi) {
  return uint32_t(__bfloat16_as_ushort(lo)) | (uint32_t(__bfloat16_as_ushort(hi)) << 16);
}
__device__ __forceinline__ uint32_t ld_pair(const bf16* p) { return *reinterpret_cast<const uint32_t*>(p); }
// x = hi + lo, both bf16, for the pair (x0, x1).
__device__ __forceinline__ void split_pair(float x0, float x1, uint32_t& hi, uint32_t& lo) {
  const bf16 h0 = __float2bfloat16(x0), h1 = __float2bfloat16(x1);
  hi = pack_bf16(h0, h1);
  lo = pack_bf16(__float2bfloat16(x0 - __bfloat162float(h0)), __float2bfloat16(x1 - __bfloat162float(h1)));
}

}  // namespace nagent::engine::cuda
