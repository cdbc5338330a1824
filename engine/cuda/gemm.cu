#include "engine/cuda/gemm.h"

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "engine/cuda/common.cuh"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/per_device_once.h"

namespace nagent::engine::cuda {

namespace {

constexpr int kMaxGemvTokens = 8;
constexpr size_t kMaxGemvSmem = 160 * 1024;  // T * K fp32 activations held in shared memory
constexpr size_t kLtWorkspace = 32 << 20;

// Warp per output row, grid-stride; the T activation rows sit in shared memory, so each W row
// is read once for all T tokens.
template <int T>
__global__ void gemv_kernel(const bf16* W, int64_t N, int64_t K, const float* x, float* y, int64_t ldy, bool relu2,
                            bool accumulate) {
  extern __shared__ float4 smem4[];
  float* xs = reinterpret_cast<float*>(smem4);
  for (int64_t i = threadIdx.x; i < T * K; i += blockDim.x) xs[i] = x[i];
  __syncthreads();
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x >> 5);
  for (int64_t n = blockIdx.x * int64_t(blockDim.x >> 5) + (threadIdx.x >> 5); n < N; n += warps) {
    const bf16* row = W + n * K;
    float acc[T];
    if ((K & 7) == 0 && (reinterpret_cast<uintptr_t>(row) & 15) == 0) {
#pragma unroll
      for (int t = 0; t < T; ++t) acc[t] = 0.0f;
      const uint4* w8 = reinterpret_cast<const uint4*>(row);
#pragma unroll 2
      for (int64_t i = lane; i < K / 8; i += 32) {
        const uint4 raw = __ldg(w8 + i);
        const __nv_bfloat162* p = reinterpret_cast<const __nv_bfloat162*>(&raw);
        float w[8];
#pragma unroll
        for (int k = 0; k < 4; ++k) {
          const float2 f = __bfloat1622float2(p[k]);
          w[2 * k] = f.x;
          w[2 * k + 1] = f.y;
        }
#pragma unroll
        for (int t = 0; t < T; ++t) {
          const float4 xa = reinterpret_cast<const float4*>(xs + t * K)[2 * i];
          const float4 xb = reinterpret_cast<const float4*>(xs + t * K)[2 * i + 1];
          acc[t] += w[0] * xa.x + w[1] * xa.y + w[2] * xa.z + w[3] * xa.w + w[4] * xb.x + w[5] * xb.y +
                    w[6] * xb.z + w[7] * xb.w;
        }
      }
    } else {
#pragma unroll
      for (int t = 0; t < T; ++t) acc[t] = lane_dot_bf16(row, xs + t * K, K, lane);
    }
#pragma unroll
    for (int t = 0; t < T; ++t) {
      float v = warp_sum(acc[t]);
      if (relu2) {
        v = fmaxf(v, 0.0f);
        v *= v;
      }
      if (lane == 0) y[t * ldy + n] = accumulate ? y[t * ldy + n] + v : v;
    }
  }
}

template <int T>
void launch_gemv(const DeviceMatrix& W, const float* x, float* y, int64_t ldy, bool relu2, bool accumulate,
                 cudaStream_t stream) {
  static PerDeviceOnce configured;
  configured.run([] {
    NAGENT_CUDA_CHECK(cudaFuncSetAttribute(gemv_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, kMaxGemvSmem));
  });
  // Enough resident warps to keep many 16-byte loads in flight; x is loaded once per block.
  const int blocks = static_cast<int>(std::min<int64_t>((W.rows + 7) / 8, 132 * 4));
  gemv_kernel<T><<<blocks, 256, T * W.cols * sizeof(float), stream>>>(W.data, W.rows, W.cols, x, y, ldy, relu2,
                                                                                      accumulate);
  NAGENT_LAUNCH_CHECK();
}

using GemvLauncher = void (*)(const DeviceMatrix&, const float*, float*, int64_t, bool, bool, cudaStream_t);
const GemvLauncher kGemv[kMaxGemvTokens] = {launch_gemv<1>, launch_gemv<2>, launch_gemv<3>, launch_gemv<4>,
                                            launch_gemv<5>, launch_gemv<6>, launch_gemv<7>, launch_gemv<8>};

}  // namespace

Gemm::Gemm(cudaStream_t stream, MemoryLedger* ledger)
    : stream_(stream), lt_workspace_(kLtWorkspace, ledger, "workspace"), x_bf16_(ledger, "workspace") {
  if (const char* e = std::getenv("NAGENT_CUDA_FAST_GEMV")) fast_gemv_ = std::string(e) != "0";
  NAGENT_CUBLAS_CHECK(cublasLtCreate(&lt_));
  NAGENT_CUBLAS_CHECK(cublasCreate(&blas_));
  NAGENT_CUBLAS_CHECK(cublasSetStream(blas_, stream_));
  NAGENT_CUBLAS_CHECK(cublasSetMathMode(blas_, CUBLAS_PEDANTIC_MATH));  // the router stays true fp32
}

Gemm::~Gemm() {
  if (blas_) cublasDestroy(blas_);
  if (lt_) cublasLtDestroy(lt_);
}

bool Gemm::uses_gemv(int64_t T, int64_t K) {
  return T >= 1 && T <= kMaxGemvTokens && static_cast<size_t>(T * K) * sizeof(float) <= kMaxGemvSmem;
}

bool Gemm::uses_fast_gemv(const DeviceMatrix& W, const float* x, int64_t T) const {
  return fast_gemv_ && T == 1 && mv_supported(W.data, W.cols, x, 0);
}

void Gemm::run(const DeviceMatrix& W, const float* x, int64_t T, float* y, int64_t ldy, Epilogue ep,
               bool accumulate) {
  if (T == 0) return;
  if (accumulate && ep == Epilogue::kRelu2) throw std::logic_error("ReLU² epilogue with accumulation");
  if (uses_fast_gemv(W, x, T)) {
    gemv1(W.data, W.rows, W.cols, x, ep == Epilogue::kRelu2, accumulate, y, stream_);
    return;
  }
  if (uses_gemv(T, W.cols)) {
    kGemv[T - 1](W, x, y, ldy, ep == Epilogue::kRelu2, accumulate, stream_);
    return;
  }
  bf16* xb = x_bf16_.get<bf16>(T * W.cols);
  to_bf16(x, xb, T * W.cols, stream_);
  run_bf16(W, xb, W.cols, T, y, ldy, ep, accumulate);
}

void Gemm::run_bf16(const DeviceMatrix& W, const bf16* x, int64_t ldx, int64_t T, float* y, int64_t ldy,
                    Epilogue ep, bool accumulate) {
  if (T == 0) return;
  const int64_t N = W.rows, K = W.cols;
  // Column-major view: Y^T [N, T] (ld ldy) = op(A) [N, K] x B [K, T], A = W seen as [K, N] (ld K)
  // transposed, B = x seen as [K, T] (ld ldx).
  cublasLtMatmulDesc_t op;
  NAGENT_CUBLAS_CHECK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  NAGENT_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
  NAGENT_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
  cublasLtMatrixLayout_t a, b, c;
  NAGENT_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&a, CUDA_R_16BF, K, N, K));
  NAGENT_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&b, CUDA_R_16BF, K, T, ldx));
  NAGENT_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&c, CUDA_R_32F, N, T, ldy));
  const auto key = std::make_tuple(N, K, T, ldx, ldy);
  auto it = algos_.find(key);
  if (it == algos_.end()) {
    cublasLtMatmulPreference_t pref;
    NAGENT_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    const size_t ws = kLtWorkspace;
    NAGENT_CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    NAGENT_CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(lt_, op, a, b, c, c, pref, 1, &result, &found));
    cublasLtMatmulPreferenceDestroy(pref);
    if (found == 0)
      throw std::runtime_error("cuBLASLt has no bf16 algorithm for " + std::to_string(N) + "x" + std::to_string(K) +
                               " with " + std::to_string(T) + " tokens");
    it = algos_.emplace(key, result.algo).first;
  }
  const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  NAGENT_CUBLAS_CHECK(cublasLtMatmul(lt_, op, &one, W.data, a, x, b, &beta, y, c, y, c, &it->second,
                                     lt_workspace_.get(), kLtWorkspace, stream_));
  cublasLtMatrixLayoutDestroy(a);
  cublasLtMatrixLayoutDestroy(b);
  cublasLtMatrixLayoutDestroy(c);
  cublasLtMatmulDescDestroy(op);
  if (ep == Epilogue::kRelu2) {
    if (ldy != N) throw std::logic_error("ReLU² epilogue needs a dense output");
    relu2_inplace(y, T * N, stream_);
  }
}

void Gemm::run_f32(const float* W, int64_t N, int64_t K, const float* x, int64_t T, float* y) {
  if (T == 0) return;
  if (T <= kMaxGemvTokens) {  // our kernel: no cuBLAS call inside a captured decode step
    router_logits(W, N, K, x, T, y, stream_);
    return;
  }
  const float one = 1.0f, zero = 0.0f;
  NAGENT_CUBLAS_CHECK(cublasSgemm(blas_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(N), static_cast<int>(T),
                                  static_cast<int>(K), &one, W, static_cast<int>(K), x, static_cast<int>(K), &zero, y,
                                  static_cast<int>(N)));
}

}  // namespace nagent::engine::cuda
