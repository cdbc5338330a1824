// RankThreads (engine/rank_threads.h), the per-GPU host threads of the sharded CUDA model: every
// rank runs concurrently on its own persistent thread (the one on_start ran on), the lowest
// failing rank's exception comes back after all are done, on_error runs on the failing rank's
// thread, and the threads serve the next run after a failure.
#include <catch2/catch.hpp>

#include <atomic>
#include <barrier>
#include <stdexcept>
#include <thread>
#include <vector>

#include "engine/rank_threads.h"

using namespace nagent::engine;

TEST_CASE("rank threads: every rank at once, each on the thread its on_start ran on") {
  const int W = 4;
  std::vector<std::thread::id> started(W), ran(W);
  RankThreads threads(W, [&](int r) { started[r] = std::this_thread::get_id(); });
  CHECK(threads.world() == W);
  for (int round = 0; round < 3; ++round) {
    std::barrier all(W);  // returns only if all W ranks run concurrently
    std::atomic<int> calls{0};
    threads.run([&](int r) {
      all.arrive_and_wait();
      ran[r] = std::this_thread::get_id();
      ++calls;
    });
    CHECK(calls == W);
    CHECK(ran == started);
  }
  for (int r = 1; r < W; ++r) CHECK(started[r] != started[0]);
}

TEST_CASE("rank threads: the lowest failing rank's error, on_error on the failing thread, then usable") {
  RankThreads threads(3);
  std::vector<int> errored(3, 0);
  std::vector<std::thread::id> ids(3), error_ids(3);
  auto fn = [&](int r) {
    ids[r] = std::this_thread::get_id();
    if (r >= 1) throw std::runtime_error("rank " + std::to_string(r));
  };
  CHECK_THROWS_WITH(threads.run(fn,
                                [&](int r) {
                                  ++errored[r];
                                  error_ids[r] = std::this_thread::get_id();
                                }),
                    "rank 1");
  CHECK(errored == std::vector<int>{0, 1, 1});
  CHECK(error_ids[1] == ids[1]);
  CHECK(error_ids[2] == ids[2]);
  std::atomic<int> calls{0};
  CHECK_NOTHROW(threads.run([&](int) { ++calls; }));
  CHECK(calls == 3);
}

TEST_CASE("rank threads: a failing on_start fails the constructor; world 1 works; world 0 is refused") {
  CHECK_THROWS_WITH(RankThreads(2, [](int r) {
                      if (r == 1) throw std::runtime_error("no such GPU");
                    }),
                    "no such GPU");
  RankThreads one(1);
  int n = 0;
  one.run([&](int r) { n += r + 1; });
  CHECK(n == 1);
  CHECK_THROWS_AS(RankThreads(0), std::invalid_argument);
}
