// JobStore: serve's durable job queue, in the same SQLite database as the sessions (a job's
// id is its session's id, and its events are the session's events, so a job's timeline is
// one sequence from "job_queued" through the run to "job_end").
//
// Every state change is one committed transaction before the caller answers anyone: an
// accepted job (202) is on disk with its idempotency key or webhook delivery id, so a
// kill -9 loses no accepted job and a retried request finds the job it created.
// One connection guarded by a mutex: SQLite serializes writers anyway, and a short
// transaction (no fsync per commit in WAL mode, synchronous=NORMAL) takes tens of microseconds.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/session_store.h"
#include "agent/sqlite_statement.h"

namespace nagent::serve {

struct Job {
  std::string id;
  std::string status;                                      // queued | running | succeeded | failed | cancelled
  std::string source;                                      // api | github | gitlab
  json spec;                                               // validated settings (job_request.h)
  double created_at = 0, started_at = 0, finished_at = 0;  // unix seconds; 0: not yet
  int attempts = 0;                                        // times a worker started it (>1 after a restart resumed it)
  int64_t steps = 0, tokens = 0;
  std::string summary;
  std::string callback_state;  // "" (none) | pending | delivered | failed
  bool has_session = false;    // run_session created its session (resume continues it)
  json to_json() const;        // the API's view (no patch or report)
};

struct QueueFull : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class JobStore {
 public:
  explicit JobStore(const std::string& path, SessionStore::Durability durability = SessionStore::Durability::Normal);
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  struct Enqueued {
    Job job;
    bool created;  // false: the idempotency key or delivery id named an existing job
  };
  // Inserts a queued job (or returns the one its dedupe key names). dedupe_key: a webhook
  // delivery ("github:<X-GitHub-Delivery>") or "" ; the spec's idempotency_key also dedupes.
  // Throws QueueFull when max_queue jobs are queued already.
  Enqueued enqueue(const json& spec, const std::string& source, const std::string& dedupe_key, int max_queue);
  // Moves the oldest queued job to running and returns it.
  std::optional<Job> claim_next();
  // Records how a running job ended, with its patch and report, and appends "job_end".
  void finish(const std::string& id, const std::string& status, const std::string& summary, int64_t steps,
              int64_t tokens, const std::string& patch, const json& report);
  // queued -> cancelled; false if the job is not queued.
  bool cancel_queued(const std::string& id);
  // At start-up: jobs left running by a dead server are re-queued (on_restart "resume") or
  // failed with the reason; returns how many.
  int recover_running(bool resume);

  std::optional<Job> job(const std::string& id);
  std::vector<Job> list(const std::string& status, int limit);
  std::optional<std::string> patch(const std::string& id);
  std::optional<json> report(const std::string& id);
  std::map<std::string, int64_t> count_by_status();
  int64_t queued() const;

  // The job's events (its session's) after seq, and appending one.
  std::vector<StoredEvent> events(const std::string& id, int64_t after_seq);
  int64_t append_event(const std::string& id, const std::string& type, const json& data);

  void set_callback_state(const std::string& id, const std::string& state);
  std::vector<Job> pending_callbacks();

 private:
  mutable std::mutex mutex_;
  SessionStore sessions_;  // owns the events table; created first so the schema exists
  sqlite3* db_ = nullptr;
  std::optional<StatementCache> statements_;  // every statement stays prepared (the accept path is hot)
  int64_t queued_ = 0;                        // kept in memory: the bound is checked on every submission
  void exec(const char* sql);
  int64_t insert_event(const std::string& id, const std::string& type, const json& data);
  std::optional<Job> job_locked(const std::string& id);
};

// A fresh job id like "20261202-210501-9c1f2e3a4b5d" (time, then 48 random bits: unique
// at thousands of submissions a second).
std::string new_job_id();

}  // namespace nagent::serve
