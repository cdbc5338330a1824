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

#include <cmath>
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
// Four 8x8 bf16 matrices from shared memory, one per register: lanes 8i..8i+7 give the 16-byte
// rows of matrix i; lane l receives row l / 4, columns 2 (l % 4) + {0, 1} of each (with
// .trans: column l / 4, rows 2 (l % 4) + {0, 1}). The A fragment of a 16 x 16 tile, or the B
// fragments of two n8 tiles, in one instruction.
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const bf16* p) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s)
               : "memory");
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const bf16* p) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s)
               : "memory");
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

// Online softmax of the two accumulator rows a lane holds, g and g + 8 (a row's scores lie in
// the 4 lanes of its quad). update() takes a score tile of NT n8 tiles, masked keys already
// -inf, turns it into the weights exp(s - m) (the A fragments of P V), folds its maximum and
// sum into m and l, and returns the factors (x: row g, y: row g + 8) O must be scaled by.
struct OnlineSoftmax {
  float m_g = -INFINITY, m_g8 = -INFINITY, l_g = 0.0f, l_g8 = 0.0f;

  template <int NT>
  __device__ __forceinline__ float2 update(float (&s)[NT][4]) {
    float mx_g = -INFINITY, mx_g8 = -INFINITY;
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        mx_g = fmaxf(mx_g, s[nt][c]);
        mx_g8 = fmaxf(mx_g8, s[nt][2 + c]);
      }
    mx_g = fmaxf(mx_g, __shfl_xor_sync(0xffffffffu, mx_g, 1));
    mx_g = fmaxf(mx_g, __shfl_xor_sync(0xffffffffu, mx_g, 2));
    mx_g8 = fmaxf(mx_g8, __shfl_xor_sync(0xffffffffu, mx_g8, 1));
    mx_g8 = fmaxf(mx_g8, __shfl_xor_sync(0xffffffffu, mx_g8, 2));
    const float mn_g = fmaxf(m_g, mx_g), mn_g8 = fmaxf(m_g8, mx_g8);
    // A row with no visible key yet keeps m = -inf (exp(-inf - -inf) would be NaN): nothing to
    // scale, all weights 0.
    const float al_g = mn_g == -INFINITY ? 1.0f : expf(m_g - mn_g);
    const float al_g8 = mn_g8 == -INFINITY ? 1.0f : expf(m_g8 - mn_g8);
    float sum_g = 0.0f, sum_g8 = 0.0f;
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        s[nt][c] = mn_g == -INFINITY ? 0.0f : expf(s[nt][c] - mn_g);
        s[nt][2 + c] = mn_g8 == -INFINITY ? 0.0f : expf(s[nt][2 + c] - mn_g8);
        sum_g += s[nt][c];
        sum_g8 += s[nt][2 + c];
      }
    sum_g += __shfl_xor_sync(0xffffffffu, sum_g, 1);
    sum_g += __shfl_xor_sync(0xffffffffu, sum_g, 2);
    sum_g8 += __shfl_xor_sync(0xffffffffu, sum_g8, 1);
    sum_g8 += __shfl_xor_sync(0xffffffffu, sum_g8, 2);
    l_g = l_g * al_g + sum_g;
    l_g8 = l_g8 * al_g8 + sum_g8;
    m_g = mn_g;
    m_g8 = mn_g8;
    return make_float2(al_g, al_g8);
  }
};
// One n8 tile of O times the factors update() returned.
__device__ __forceinline__ void scale_rows(float (&o)[4], float2 alpha) {
  o[0] *= alpha.x;
  o[1] *= alpha.x;
  o[2] *= alpha.y;
  o[3] *= alpha.y;
}

}  // namespace nagent::engine::cuda
