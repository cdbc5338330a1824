// Error checking for CUDA runtime and cuBLAS calls: a failure throws std::runtime_error naming
// the call, the file and line, and the runtime's message.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace nagent::engine::cuda {

[[noreturn]] inline void throw_cuda(cudaError_t e, const char* what, const char* file, int line) {
  throw std::runtime_error(std::string("CUDA error in ") + what + " (" + file + ":" + std::to_string(line) +
                           "): " + cudaGetErrorString(e));
}
[[noreturn]] inline void throw_cublas(cublasStatus_t s, const char* what, const char* file, int line) {
  throw std::runtime_error(std::string("cuBLAS error ") + std::to_string(static_cast<int>(s)) + " in " + what + " (" +
                           file + ":" + std::to_string(line) + ")");
}

}  // namespace nagent::engine::cuda

#define NAGENT_CUDA_CHECK(call)                                                              \
  do {                                                                                       \
    const cudaError_t nagent_e_ = (call);                                                    \
    if (nagent_e_ != cudaSuccess) ::nagent::engine::cuda::throw_cuda(nagent_e_, #call, __FILE__, __LINE__); \
  } while (0)
#define NAGENT_CUBLAS_CHECK(call)                                                               \
  do {                                                                                          \
    const cublasStatus_t nagent_s_ = (call);                                                    \
    if (nagent_s_ != CUBLAS_STATUS_SUCCESS)                                                     \
      ::nagent::engine::cuda::throw_cublas(nagent_s_, #call, __FILE__, __LINE__);               \
  } while (0)
// After every kernel launch: a bad launch configuration shows here, not later.
#define NAGENT_LAUNCH_CHECK() NAGENT_CUDA_CHECK(cudaGetLastError())
