// The NCCL implementation of engine/partition.h's Collective: one communicator per GPU of one
// process (one host thread per GPU), all_reduce_sum on device buffers, enqueued on the rank's
// stream like the CUDA engine's kernels. Built only when CMake finds NCCL next to the CUDA
// toolkit (NAGENT_NCCL=1). Used by engine/cuda/cuda_sharded.h; not yet run on several GPUs.
#pragma once

#include <cuda_runtime.h>

#include <memory>
#include <vector>

#include "engine/partition.h"

namespace nagent::engine::cuda {

// Communicators for ranks 0..devices.size()-1 on those CUDA devices, rank r's reductions on
// streams[r]. all_reduce_sum(buf, n): buf is device memory of rank r's GPU; the call returns
// once the reduction is enqueued (the sum is in place in stream order).
std::vector<std::unique_ptr<Collective>> make_nccl_collectives(const std::vector<int>& devices,
                                                               const std::vector<cudaStream_t>& streams);

}  // namespace nagent::engine::cuda
