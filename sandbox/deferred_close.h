// Closes descriptors on a background thread. A run's mount namespace is torn down when
// its last reference goes, and that waits for an RCU grace period (the kernel frees the
// unmounted tree only after one). The runner holds such a reference while the run lasts
// and hands it here afterwards, so that wait falls on this thread and not between the
// command's exit and Runner::run() returning.
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace nagent::sandbox {

class DeferredClose {
 public:
  DeferredClose() = default;
  DeferredClose(const DeferredClose&) = delete;
  DeferredClose& operator=(const DeferredClose&) = delete;
  // Closes whatever is still queued, waiting for it.
  ~DeferredClose();

  void close_later(int fd);

 private:
  void loop();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<int> queued_;
  bool stopping_ = false;
  std::thread thread_;  // started with the first descriptor
};

}  // namespace nagent::sandbox
