// AMX-BF16 build of the prefill matrix kernel for BF16 weights (Intel Sapphire Rapids and
// later). Only this file is compiled for AMX; cpu_kernels.cpp calls it when the CPU has the
// tiles and the OS lets the process use them (amx_usable()), so the binary runs everywhere.
//
// Orientation: the product is computed transposed, y^T[n, t] = W[n, :] . x[t, :], so that W is
// the A operand and its tiles load straight from the row-major (memory-mapped) weights, 16 rows
// x 32 values, with no repacking and no second copy of the model. The activations are the B
// operand: rounded to bf16 (round to nearest even, as PyTorch's bf16 model holds them) and
// packed once per product into the pair-interleaved tile layout (pack_tokens). Products and
// sums are fp32 inside the tiles.
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

#include "engine/cpu_kernels.h"
#include "engine/matmul_amx.h"

#include <immintrin.h>

#pragma GCC target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")
// GCC 12 flags its own AVX-512 headers' `__m512 __Y = __Y;` (undefined-vector idiom) once the
// shuffles inline here; the warning is about the header, not this code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace nagent::engine::amx {

namespace {

constexpr long kArchReqXcompPerm = 0x1023;  // <asm/prctl.h> ARCH_REQ_XCOMP_PERM
constexpr long kXfeatureXtiledata = 18;     // the AMX tile data state component

// Tile register roles: C accumulators 0-3 (rows x tokens, fp32), A = W tiles 4-5, B = tokens 6-7.
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// rows0/rows1: W rows in the first/second A tile of a block (rows1 may be 0).
void configure(int rows0, int rows1) {
  TileConfig c;
  const int a[2] = {rows0, rows1 > 0 ? rows1 : 1};
  for (int i = 0; i < 4; ++i) {  // C tile i: A tile i / 2 times B tile i % 2
    c.rows[i] = static_cast<uint8_t>(a[i / 2]);
    c.colsb[i] = 64;
  }
  for (int i = 0; i < 2; ++i) {
    c.rows[4 + i] = static_cast<uint8_t>(a[i]);
    c.colsb[4 + i] = 64;
    c.rows[6 + i] = 16;
    c.colsb[6 + i] = 64;
  }
  _tile_loadconfig(&c);
}

// In-register transpose of a 16x16 block of 32-bit values (rows r[0..15] -> columns).
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // r[4i + j], 128-bit lane l: column 4l + j of rows 4i..4i+3.
  for (int i = 0; i < 4; ++i) {
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
    r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  for (int j = 0; j < 4; ++j) {
    const __m512 u0 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x44), u1 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xee);
    const __m512 u2 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x44);
    const __m512 u3 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xee);
    t[j] = _mm512_shuffle_f32x4(u0, u2, 0x88);
    t[4 + j] = _mm512_shuffle_f32x4(u0, u2, 0xdd);
    t[8 + j] = _mm512_shuffle_f32x4(u1, u3, 0x88);
    t[12 + j] = _mm512_shuffle_f32x4(u1, u3, 0xdd);
  }
  for (int i = 0; i < 16; ++i) r[i] = t[i];
}

// Writes the C tile c[n][t] (n < rows, t < tokens) transposed into y[t, n] (+ bias[n]).
inline void store_transposed(const float* c, int rows, int tokens, float* y, int64_t ldy, const float* bias) {
  __m512 r[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_load_ps(c + 16 * i);
  transpose16(r);
  const __mmask16 m = static_cast<__mmask16>((1u << rows) - 1u);
  const __m512 b = bias ? _mm512_maskz_loadu_ps(m, bias) : _mm512_setzero_ps();
  for (int t = 0; t < tokens; ++t) _mm512_mask_storeu_ps(y + t * ldy, m, _mm512_add_ps(r[t], b));
}

// One block: up to 32 W rows (two A tiles) x up to 32 tokens (two B tiles), K / 32 steps.
template <bool A2, bool B2>
void block(const uint8_t* w, int64_t ldw, const uint16_t* xb, int64_t kblocks, float* c) {
  _tile_zero(0);
  if (B2) _tile_zero(1);
  if (A2) _tile_zero(2);
  if (A2 && B2) _tile_zero(3);
  const uint16_t* xb2 = xb + kblocks * 512;
  for (int64_t kb = 0; kb < kblocks; ++kb) {
    _tile_loadd(4, w + kb * 64, ldw);
    _tile_loadd(6, xb + kb * 512, 64);
    _tile_dpbf16ps(0, 4, 6);
    if (B2) {
      _tile_loadd(7, xb2 + kb * 512, 64);
      _tile_dpbf16ps(1, 4, 7);
    }
    if (A2) {
      _tile_loadd(5, w + 16 * ldw + kb * 64, ldw);
      _tile_dpbf16ps(2, 5, 6);
      if (B2) _tile_dpbf16ps(3, 5, 7);
    }
  }
  _tile_stored(0, c, 64);
  if (B2) _tile_stored(1, c + 256, 64);
  if (A2) _tile_stored(2, c + 512, 64);
  if (A2 && B2) _tile_stored(3, c + 768, 64);
}

}  // namespace

bool usable() {
  // The kernel grants tile data to a process only on request (Linux >= 5.16).
  static const bool ok = syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  return ok;
}

void pack_tokens(const float* x, int64_t tokens, int64_t K, int64_t block, uint16_t* out) {
  const int64_t kblocks = K / 32;
  uint16_t* dst = out + block * kblocks * 512;
  for (int64_t kb = 0; kb < kblocks; ++kb, dst += 512) {
    __m512 r[16];
    for (int t = 0; t < 16; ++t) {
      const int64_t tok = block * 16 + t;
      if (tok < tokens) {
        const float* p = x + tok * K + kb * 32;
        // Low half from p[0..15], high half from p[16..31]: 32-bit lane j = the pair (2j, 2j+1).
        r[t] = (__m512)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(p + 16), _mm512_loadu_ps(p));
      } else {
        r[t] = _mm512_setzero_ps();  // padding tokens: their outputs are never stored
      }
    }
    transpose16(r);  // row j: the pair (2j, 2j+1) of each of the 16 tokens
    for (int j = 0; j < 16; ++j) _mm512_storeu_ps(dst + 32 * j, r[j]);
  }
}

void matmul_rows(const Matrix& W, const uint16_t* packed, int64_t tokens, float* y, int64_t ldy, const float* bias,
                 int64_t row_begin, int64_t row_end, int64_t token_begin, int64_t token_end) {
  const int64_t K = W.cols, kblocks = K / 32, ldw = K * 2;
  const uint8_t* base = static_cast<const uint8_t*>(W.data);
  alignas(64) float c[4 * 256];
  int configured0 = -1, configured1 = -1;
  for (int64_t r = row_begin; r < row_end; r += 32) {
    const int rows = static_cast<int>(row_end - r < 32 ? row_end - r : 32);
    const int rows0 = rows < 16 ? rows : 16, rows1 = rows - rows0;
    if (rows0 != configured0 || rows1 != configured1) {
      configure(rows0, rows1);
      configured0 = rows0;
      configured1 = rows1;
    }
    const uint8_t* w = base + r * ldw;
    const float* b = bias ? bias + r : nullptr;
    for (int64_t t = token_begin; t < token_end; t += 32) {
      const bool two_b = token_end - t > 16;
      const uint16_t* xb = packed + (t / 16) * kblocks * 512;
      if (rows1 > 0) {
        if (two_b) block<true, true>(w, ldw, xb, kblocks, c);
        else block<true, false>(w, ldw, xb, kblocks, c);
      } else {
        if (two_b) block<false, true>(w, ldw, xb, kblocks, c);
        else block<false, false>(w, ldw, xb, kblocks, c);
      }
      const int n0 = static_cast<int>(tokens - t < 16 ? tokens - t : 16);
      store_transposed(c, rows0, n0, y + t * ldy + r, ldy, b);
      if (two_b) {
        const int n1 = static_cast<int>(tokens - t - 16 < 16 ? tokens - t - 16 : 16);
        store_transposed(c + 256, rows0, n1, y + (t + 16) * ldy + r, ldy, b);
      }
      if (rows1 > 0) {
        store_transposed(c + 512, rows1, n0, y + t * ldy + r + 16, ldy, b ? b + 16 : nullptr);
        if (two_b) {
          const int n1 = static_cast<int>(tokens - t - 16 < 16 ? tokens - t - 16 : 16);
          store_transposed(c + 768, rows1, n1, y + (t + 16) * ldy + r + 16, ldy, b ? b + 16 : nullptr);
        }
      }
    }
  }
  _tile_release();
}

}  // namespace nagent::engine::amx
