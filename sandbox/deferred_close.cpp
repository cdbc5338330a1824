#include "sandbox/deferred_close.h"

#include <unistd.h>

namespace nagent::sandbox {

DeferredClose::~DeferredClose() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void DeferredClose::close_later(int fd) {
  if (fd < 0) return;
  {
    std::lock_guard lock(mutex_);
    queued_.push_back(fd);
    if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
  }
  wake_.notify_one();
}

void DeferredClose::loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queued_.empty(); });
    std::vector<int> batch;
    batch.swap(queued_);
    lock.unlock();
    for (int fd : batch) ::close(fd);
    lock.lock();
    if (stopping_ && queued_.empty()) return;
  }
}

}  // namespace nagent::sandbox
