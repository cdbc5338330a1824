// ChangeSignal: wakes the threads waiting for something new in the job store (SSE streams
// waiting for events). A generation counter, so a change between two waits is not missed.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace nagent::serve {

class ChangeSignal {
 public:
  uint64_t generation() const {
    std::lock_guard lock(mutex_);
    return generation_;
  }
  void notify() {
    {
      std::lock_guard lock(mutex_);
      ++generation_;
    }
    cv_.notify_all();
  }
  // Returns when the generation differs from seen or the timeout passes.
  void wait(uint64_t seen, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, timeout, [&] { return generation_ != seen; });
  }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  uint64_t generation_ = 0;
};

}  // namespace nagent::serve
