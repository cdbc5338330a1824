// Scheduler: many concurrent generations on one embedded model. One thread owns the model; each
// iteration it advances every running request: one LanguageModel::decode_batch call for all
// that are decoding, then prompt prefill in chunks (so a long new prompt does not stall them).
// Requests are served from a pool of engine sessions, each keeping its tokens and a snapshot
// saved inside its last prompt: a request takes the idle session whose state is the longest
// prefix of its prompt. The pool has a budget in bytes of state; idle sessions are evicted
// least recently used first, and a request that does not fit while others run waits in a FIFO
// queue. A request larger than the whole budget is served alone (all idle sessions evicted,
// nothing else admitted while it runs; counted in Stats::oversize).
//
// generate() may be called from any number of threads; it blocks until its request is done.
// Text pieces reach the request's callback on the calling thread (a slow callback stalls only
// its own stream); when it returns false the request ends (finish_reason "stop") with the
// tokens and text of the pieces delivered so far.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/generation.h"

namespace nagent::engine {

struct SchedulerOptions {
  int64_t pool_bytes = int64_t{4} << 30;  // state of all sessions, running and idle (host-form size)
  int64_t prefill_chunk = 256;            // prompt tokens prefilled per iteration, between decode steps
};

struct ScheduledRequest {
  std::vector<int32_t> prompt;
  // Prompt tokens [0, snapshot_at) are saved (the session's prompt snapshot) before the rest is
  // prefilled, so that a later prompt sharing only that prefix still reuses it. 0: not saved.
  int64_t snapshot_at = 0;
  GenerationOptions options;
};

struct ScheduledResult {
  GenerationResult generation;   // prompt_tokens, prefilled_tokens filled in
  int64_t cached_prompt_tokens = 0;  // prompt tokens taken from the pooled session
};

class Scheduler {
 public:
  struct Stats {
    int64_t requests = 0;          // completed (or failed)
    int64_t sessions = 0;          // pooled now (idle + running)
    int64_t evictions = 0;         // idle sessions dropped to make room
    int64_t oversize = 0;          // requests served alone, larger than the budget
    int64_t decode_steps = 0;      // decode_batch calls
    int64_t max_batch = 0;         // most sequences in one decode_batch call
    int64_t max_running = 0;       // most requests admitted at once
    int64_t bytes_in_use = 0;      // reserved by running requests + held by idle sessions
    int64_t peak_bytes = 0;        // highest bytes_in_use among iterations without an oversize request
    int64_t waiting = 0;           // queued now, not yet admitted
  };

  Scheduler(LanguageModel& model, const Tokenizer* tokenizer, SchedulerOptions options = {});
  ~Scheduler();  // serves the requests already submitted, then stops its thread
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Thread-safe. Throws what the model threw (std::exception) when the request failed.
  ScheduledResult generate(const ScheduledRequest& request, const TextCallback& on_text = {});

  Stats stats() const;
  // Host-form bytes of one session's state after `tokens` tokens (what the budget counts).
  int64_t state_bytes(int64_t tokens) const;
  const SchedulerOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nagent::engine
