// Set-up that a CUDA device needs once, such as a kernel's dynamic shared memory limit
// (cudaFuncSetAttribute applies to the current device only): run(f) calls f the first time it
// is called with each device current, so the ranks of a sharded model (one GPU each) all get it.
#pragma once

#include <cuda_runtime.h>

#include <mutex>
#include <stdexcept>

#include "engine/cuda/cuda_check.h"

namespace nagent::engine::cuda {

class PerDeviceOnce {
 public:
  template <typename F>
  void run(F&& f) {
    int device = 0;
    NAGENT_CUDA_CHECK(cudaGetDevice(&device));
    if (device < 0 || device >= kMaxDevices) throw std::runtime_error("CUDA device ordinal past 63");
    std::call_once(done_[device], f);
  }

 private:
  static constexpr int kMaxDevices = 64;
  std::once_flag done_[kMaxDevices];
};

}  // namespace nagent::engine::cuda
