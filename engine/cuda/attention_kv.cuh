// The paged KV cache as the attention kernels address it (attention.cu, attention_decode.cu).
#pragma once

#include "engine/cuda/common.cuh"

namespace nagent::engine::cuda {

constexpr int kMaxHeadDim = 128;  // the attention kernels' register tiles hold up to this

// Row of key (which = 0) or value (1) j in this layer's slot of the sequence's pages. Positions
// are int32 (DecodeSeqs), so the page arithmetic is 32-bit: a 64-bit division costs a call.
__device__ __forceinline__ bf16* kv_row(const KvView& kv, int64_t j, int which) {
  const int jj = static_cast<int>(j);
  const int64_t page = kv.pages[jj / kv.page_size];
  return kv.pool + ((page * kv.slots + kv.slot) * 2 + which) * int64_t(kv.page_size) * kv.kvd +
         int64_t(jj % kv.page_size) * kv.kvd;
}

}  // namespace nagent::engine::cuda
