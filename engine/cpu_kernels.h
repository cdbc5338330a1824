// CPU kernels of the engine: a thread pool, matrix products with F32/BF16/F16 weights (converted
// on the fly, fp32 accumulation), and the small vector operations of the forward pass.
// The matrix kernels are compiled for AVX-512, AVX2 and baseline x86-64 and picked at run time;
// products of BF16 weights with 16 or more tokens may run on AMX tiles (see matmul()).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "engine/model_weights.h"

namespace nagent::engine {

inline float bf16_to_f32(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint16_t f32_to_bf16(float f);  // round to nearest even
float f16_to_f32(uint16_t h);

// Element i of a tensor of dtype F32/BF16/F16 as fp32.
float load_as_f32(const void* data, DType dtype, int64_t i);
// Copies n elements (F32/BF16/F16) starting at element `first` into out as fp32.
void convert_to_f32(const void* data, DType dtype, int64_t first, int64_t n, float* out);

// Fixed set of worker threads; run(n, fn) calls fn(i) for i in [0, n) spread over the workers
// and the calling thread, and returns when all are done. Not reentrant.
class ThreadPool {
 public:
  explicit ThreadPool(int threads);  // threads <= 0: hardware concurrency
  ~ThreadPool();
  int size() const { return threads_; }
  void run(int64_t n, const std::function<void(int64_t)>& fn);

 private:
  struct State;
  std::unique_ptr<State> state_;
  int threads_;
};

// Which instruction set the matrix kernels use on this CPU ("avx512", "avx2", "generic").
const char* matmul_isa();

// The matrix-kernel builds this CPU can run, best first (tests check each one).
using MatmulRowsFn = void (*)(const Matrix& W, const float* x, int64_t tokens, float* y, int64_t ldy,
                              const float* bias, int64_t row_begin, int64_t row_end);
using GemmFn = void (*)(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                        float* C, int64_t ldc, bool accumulate, bool lower);
struct MatmulVariant {
  const char* isa;
  MatmulRowsFn rows;
  GemmFn gemm;
};
std::vector<MatmulVariant> matmul_variants();

// Whether this CPU and OS run the AMX-BF16 prefill kernel (amx-tile, amx-bf16, avx512bf16).
bool matmul_has_amx();

// y[t, n] = sum_k x[t, k] * W[n, k] (+ bias[n]) for t < tokens: x is [tokens, W.cols] fp32,
// y is [tokens, W.rows] with row stride ldy (>= W.rows). bias may be null.
// bf16_activations: with BF16 weights, at least kAmxMinTokens tokens, W.cols % 32 == 0 and
// AMX present, x is rounded to bf16 (nearest even, as PyTorch's bf16 model holds activations)
// and the product runs on AMX tiles, still summed in fp32; otherwise x stays fp32.
constexpr int64_t kAmxMinTokens = 16;  // one tile of tokens; decode stays memory-bound on AVX
void matmul(ThreadPool& pool, const Matrix& W, const float* x, int64_t tokens, float* y, int64_t ldy,
            const float* bias = nullptr, bool bf16_activations = false);

// C[M, N] = A[M, K] . B[K, N] (+ C when accumulate), fp32, row-major with row strides
// lda/ldb/ldc, in the calling thread. lower: A is lower triangular (A[i, k] == 0 for k > i),
// so those products are skipped.
void gemm_f32(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
              int64_t ldc, bool accumulate = false, bool lower = false);

// y = w * x / sqrt(mean(x^2) + eps), n elements.
void rms_norm(const float* x, const float* w, int64_t n, float eps, float* y);

// Eight independent partial sums, so the compiler can vectorise without reassociating.
inline float dot_f32(const float* a, const float* b, int64_t n) {
  float acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += a[i + l] * b[i + l];
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

inline float silu(float x) { return x / (1.0f + std::exp(-x)); }
inline float softplus(float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); }

}  // namespace nagent::engine
