#include "engine/rank_threads.h"

#include <stdexcept>
#include <string>

namespace nagent::engine {

RankThreads::RankThreads(int world, const std::function<void(int rank)>& on_start) {
  if (world < 1) throw std::invalid_argument("RankThreads: world size must be at least 1, got " + std::to_string(world));
  errors_.resize(static_cast<size_t>(world));
  for (int r = 0; r < world; ++r) threads_.emplace_back([this, r] { loop(r); });
  if (!on_start) return;
  try {
    run(on_start);
  } catch (...) {
    stop();
    throw;
  }
}

RankThreads::~RankThreads() { stop(); }

void RankThreads::stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
    ++generation_;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void RankThreads::run(const std::function<void(int rank)>& fn, const std::function<void(int rank)>& on_error) {
  std::unique_lock lock(mu_);
  fn_ = &fn;
  on_error_ = on_error ? &on_error : nullptr;
  for (auto& e : errors_) e = nullptr;
  pending_ = world();
  ++generation_;
  wake_.notify_all();
  done_.wait(lock, [&] { return pending_ == 0; });
  fn_ = on_error_ = nullptr;
  for (const auto& e : errors_)
    if (e) std::rethrow_exception(e);
}

void RankThreads::loop(int rank) {
  uint64_t seen = 0;  // the generation before any run
  for (;;) {
    const std::function<void(int)>* fn = nullptr;
    const std::function<void(int)>* on_error = nullptr;
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [&] { return generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      fn = fn_;
      on_error = on_error_;
    }
    try {
      (*fn)(rank);
    } catch (...) {
      errors_[rank] = std::current_exception();
      if (on_error) (*on_error)(rank);
    }
    {
      std::lock_guard lock(mu_);
      if (--pending_ == 0) done_.notify_all();
    }
  }
}

}  // namespace nagent::engine
