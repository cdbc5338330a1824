// JobWorkers: the threads that run queued jobs. Each worker claims the oldest queued job,
// makes its workspace copy, and runs its recipe there through run_session (the same path as
// nagent run, so the job is a session: sandboxed tools, durable replay on resume), then
// stores its patch and report and schedules its callback. A watchdog stops jobs that pass
// max_job_s; cancel() stops a running job between steps.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/serve/callbacks.h"
#include "agent/serve/change_signal.h"
#include "agent/serve/job_store.h"
#include "agent/serve/metrics.h"
#include "agent/serve/serve_config.h"

namespace nagent::serve {

class JobWorkers {
 public:
  JobWorkers(const ServeConfig& config, JobStore& store, ChangeSignal& changes, Metrics& metrics,
             CallbackSender& callbacks);
  ~JobWorkers();  // stops the workers; running jobs are cancelled and stay resumable

  void wake();  // a job was queued
  // Asks a running job to stop; false if no worker here runs it.
  bool cancel(const std::string& job_id);

 private:
  struct Running {
    std::shared_ptr<std::atomic<bool>> cancel;
    std::chrono::steady_clock::time_point started;
    bool timed_out = false;
  };
  const ServeConfig& config_;
  JobStore& store_;
  ChangeSignal& changes_;
  Metrics& metrics_;
  CallbackSender& callbacks_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::map<std::string, Running> running_;
  std::vector<std::thread> threads_;
  std::thread watchdog_;
  void work();
  void run(const Job& job);
  void watch();
};

}  // namespace nagent::serve
