// Matrix products y[t, n] = sum_k x[t, k] W[n, k] with bf16 weights [N, K] (PyTorch Linear
// layout) and fp32 outputs. Few tokens (decode): a GEMV kernel that streams W once with fp32
// activations (ReLU² fused into its epilogue when asked). More tokens: cuBLASLt with bf16
// operands and fp32 accumulation (the activations rounded to bf16 once). Plus fp32 x fp32 for
// the MoE router, which must stay in fp32 (cuBLAS SGEMM, TF32 off).
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>

#include <cstdint>
#include <map>
#include <tuple>

#include "engine/cuda/device_buffer.h"
#include "engine/cuda/kernels.h"

namespace nagent::engine::cuda {

struct DeviceMatrix {
  bf16* data = nullptr;
  int64_t rows = 0, cols = 0;
};

enum class Epilogue { kNone, kRelu2 };

class Gemm {
 public:
  Gemm(cudaStream_t stream, MemoryLedger* ledger);
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;

  // x [T, W.cols] fp32 -> y [T, W.rows] (row stride ldy); accumulate: y += (no ReLU² then).
  void run(const DeviceMatrix& W, const float* x, int64_t T, float* y, int64_t ldy, Epilogue ep = Epilogue::kNone,
           bool accumulate = false);
  // Same with bf16 activations [T, W.cols] (row stride ldx), always through cuBLASLt.
  void run_bf16(const DeviceMatrix& W, const bf16* x, int64_t ldx, int64_t T, float* y, int64_t ldy,
                Epilogue ep = Epilogue::kNone, bool accumulate = false);
  // fp32 weights [N, K] (device), fp32 activations, fp32 arithmetic (own kernel for T <= 8,
  // cuBLAS SGEMM with TF32 off beyond).
  void run_f32(const float* W, int64_t N, int64_t K, const float* x, int64_t T, float* y);
  // Which path run() takes for T tokens of width K ("gemv" or "cublaslt"), for tests and benches.
  static bool uses_gemv(int64_t T, int64_t K);
  // One token through gemv.cu's gemv1 (on unless set_fast_gemv(false); NAGENT_CUDA_FAST_GEMV=0
  // turns it off at start) instead of the older warp-per-row gemv_kernel<1>.
  bool uses_fast_gemv(const DeviceMatrix& W, const float* x, int64_t T) const;
  void set_fast_gemv(bool on) { fast_gemv_ = on; }
  bool fast_gemv() const { return fast_gemv_; }

 private:
  cudaStream_t stream_;
  bool fast_gemv_ = true;
  cublasLtHandle_t lt_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  DeviceBuffer lt_workspace_;
  Scratch x_bf16_;
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>, cublasLtMatmulAlgo_t> algos_;
};

}  // namespace nagent::engine::cuda
