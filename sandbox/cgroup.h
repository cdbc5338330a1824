// Limits for a whole run (memory, number of processes, CPU share) through cgroups: a
// delegated cgroup v2 subtree when the host gives one, else the v1 controllers when
// nagent may write them (root), else none and the runner says so. Each runner keeps a
// small pool of cgroups, reused run after run, so starting a command costs one write
// per controller rather than a mkdir/rmdir pair.
#pragma once

#include <memory>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "sandbox/policy.h"

namespace nagent::sandbox {

class CgroupPool {
 public:
  // nullptr, with *why saying what is missing, when the host has no usable cgroup for
  // these limits (or the limits need none).
  static std::unique_ptr<CgroupPool> open(const Limits& limits, std::string* why);
  ~CgroupPool();

  struct Lease {
    int slot = -1;
    // cgroup v2: the directory, for clone3(CLONE_INTO_CGROUP), which starts the run's
    // first process inside it (no migration, which would wait for an RCU grace period).
    int dir_fd = -1;
    // cgroup v1: the `tasks` files the run's first process writes "0" to, joining before
    // it forks. `tasks` and not `cgroup.procs`: moving only the calling thread skips the
    // kernel's global threadgroup lock, whose write side waits for a full RCU grace period
    // (5-20 ms) whenever the last migration is more than a grace period ago, i.e. on nearly
    // every run of an agent. (The first process is single-threaded: the same move.)
    const std::vector<std::string>* join_files = nullptr;
  };
  Lease acquire();
  // After every process of the run is gone: notes on limits the run hit ("" when none);
  // the cgroup goes back to the pool.
  std::string release(const Lease& lease);
  std::string describe() const { return describe_; }

 private:
  struct Controller {
    std::string name;  // "memory", "pids", "cpu"; "" for the v2 unified directory
    std::string base;  // the directory our cgroups are created in
  };
  struct Slot {
    std::vector<std::string> dirs;
    std::vector<std::string> join_files;
    int dir_fd = -1;  // v2 only
    uint64_t oom_kills = 0;  // counters at the start of the current run
    uint64_t pids_refused = 0;
    bool busy = false;
  };
  CgroupPool(bool v2, std::vector<Controller> controllers, const Limits& limits);
  Slot make_slot(int index);
  uint64_t oom_kills(const Slot& slot) const;
  uint64_t pids_refused(const Slot& slot) const;

  bool v2_;
  std::vector<Controller> controllers_;
  Limits limits_;
  std::string prefix_;  // "nagent-<pid>-<n>-"
  std::string describe_;
  std::mutex mutex_;
  std::deque<Slot> slots_;  // a deque: leases point into slots while others are added
};

}  // namespace nagent::sandbox
