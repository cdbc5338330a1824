#include "engine/cuda/kv_pool.h"

#include <stdexcept>
#include <string>

namespace nagent::engine::cuda {

KvPool::KvPool(const ModelConfig& c, int64_t capacity_tokens, int page_size, MemoryLedger& ledger)
    : page_size_(page_size), kvd_(static_cast<int>(c.num_key_value_heads * c.head_dim)) {
  for (LayerType t : c.layers) slot_of_layer_.push_back(t == LayerType::kAttention ? slots_++ : -1);
  pages_ = slots_ == 0 ? 0 : (capacity_tokens + page_size - 1) / page_size;
  for (int64_t p = pages_ - 1; p >= 0; --p) free_.push_back(static_cast<int32_t>(p));
  pool_ = DeviceBuffer(static_cast<size_t>(pages_ * page_elements()) * sizeof(bf16), &ledger, "kv cache");
}

std::vector<int32_t> KvPool::take(int64_t n) {
  if (n > pages_free())
    throw std::runtime_error("the GPU KV cache is full: " + std::to_string(n) + " pages of " +
                             std::to_string(page_size_) + " tokens needed, " + std::to_string(pages_free()) +
                             " free of " + std::to_string(pages_) + " (raise the KV capacity)");
  std::vector<int32_t> out(free_.end() - n, free_.end());
  free_.resize(free_.size() - static_cast<size_t>(n));
  return out;
}

void KvPool::give_back(const std::vector<int32_t>& pages) { free_.insert(free_.end(), pages.begin(), pages.end()); }

}  // namespace nagent::engine::cuda
