// One persistent host thread per rank of a sharded model (engine/cuda/cuda_sharded.h runs one
// per GPU, each with that GPU current): run(fn) has every rank's thread call fn(rank) and
// returns once all have, so a step costs a wake-up per rank rather than a thread start.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace nagent::engine {

class RankThreads {
 public:
  // on_start(rank) runs first on each rank's thread (e.g. to make its GPU current).
  RankThreads(int world, const std::function<void(int rank)>& on_start = {});
  ~RankThreads();
  RankThreads(const RankThreads&) = delete;
  RankThreads& operator=(const RankThreads&) = delete;

  int world() const { return static_cast<int>(threads_.size()); }
  // fn(rank) on every rank's thread, concurrently (they may wait on each other, as the ranks of
  // a collective do). Returns when all are done; then rethrows the lowest rank's exception, if
  // any. `on_error(rank)` runs on a failing rank's thread before it finishes, so that it can
  // release the ranks waiting on it (Collective::abort). Not reentrant.
  void run(const std::function<void(int rank)>& fn, const std::function<void(int rank)>& on_error = {});

 private:
  void loop(int rank);
  void stop();  // wakes the threads to return and joins them

  std::mutex mu_;
  std::condition_variable wake_, done_;
  const std::function<void(int)>* fn_ = nullptr;
  const std::function<void(int)>* on_error_ = nullptr;
  uint64_t generation_ = 0;  // bumped per run (and to stop)
  int pending_ = 0;          // ranks not yet done with the current run
  bool stop_ = false;
  std::vector<std::exception_ptr> errors_;
  std::vector<std::thread> threads_;
};

}  // namespace nagent::engine
