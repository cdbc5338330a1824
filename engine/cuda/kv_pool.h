// The paged key/value cache shared by all sequences on a GPU: fixed-size pages of page_size
// tokens, each holding K and V of every attention layer for those tokens, handed out from a
// free list. A sequence owns a list of pages (its page table) and grows it one page at a time,
// so memory is committed as contexts grow rather than reserved for the maximum context.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/cuda/device_buffer.h"
#include "engine/cuda/kernels.h"
#include "engine/model_config.h"

namespace nagent::engine::cuda {

class KvPool {
 public:
  // capacity_tokens: total tokens over all sequences (rounded up to whole pages).
  KvPool(const ModelConfig& c, int64_t capacity_tokens, int page_size, MemoryLedger& ledger);

  int page_size() const { return page_size_; }
  int slots() const { return slots_; }  // attention layers
  int kvd() const { return kvd_; }
  int64_t pages_total() const { return pages_; }
  int64_t pages_free() const { return static_cast<int64_t>(free_.size()); }
  int64_t page_elements() const { return int64_t(slots_) * 2 * page_size_ * kvd_; }
  bf16* page(int32_t p) const { return pool_.as<bf16>() + p * page_elements(); }
  bf16* data() const { return pool_.as<bf16>(); }
  // Slot (0..slots-1) of model layer l, -1 for layers without attention.
  int slot_of_layer(size_t l) const { return slot_of_layer_[l]; }

  // Takes n pages; throws std::runtime_error (the cache is full) when fewer are free.
  std::vector<int32_t> take(int64_t n);
  void give_back(const std::vector<int32_t>& pages);

 private:
  int page_size_, slots_ = 0, kvd_;
  int64_t pages_;
  std::vector<int> slot_of_layer_;
  std::vector<int32_t> free_;
  DeviceBuffer pool_;
};

}  // namespace nagent::engine::cuda
