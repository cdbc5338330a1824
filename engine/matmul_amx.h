// AMX-BF16 prefill kernel for BF16 weights (matmul_amx.cpp, the only file compiled for AMX).
// cpu_kernels.cpp's matmul() drives it: pack_tokens for every 16-token block, then
// matmul_rows over (row range, token range) tasks. Requires K % 32 == 0.
#pragma once

#include <cstdint>

#include "engine/model_weights.h"

namespace nagent::engine::amx {

// The process may use the tiles (asks the kernel for the tile state once). Call only when the
// CPU reports amx-tile, amx-bf16 and avx512bf16.
bool usable();

// Rounds tokens [16 block, 16 block + 16) of x [tokens, K] to bf16 and writes them, zero-padded
// past `tokens`, into block `block` of the packed B-operand layout: per block, K / 32 tiles of
// 16 rows (value pairs) x 16 tokens x 2 values.
void pack_tokens(const float* x, int64_t tokens, int64_t K, int64_t block, uint16_t* packed);

// y[t, n] = packed x[t] . W[n] (+ bias[n]) for rows [row_begin, row_end) and tokens
// [token_begin, token_end) (multiples of 16, token_end may be the padded count) below `tokens`.
void matmul_rows(const Matrix& W, const uint16_t* packed, int64_t tokens, float* y, int64_t ldy, const float* bias,
                 int64_t row_begin, int64_t row_end, int64_t token_begin, int64_t token_end);

}  // namespace nagent::engine::amx
