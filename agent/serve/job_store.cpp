#include "agent/serve/job_store.h"

#include <chrono>
#include <ctime>
#include <random>

#include "agent/sqlite_statement.h"

namespace nagent::serve {
namespace {

double now_s() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS jobs(
  id TEXT PRIMARY KEY,
  status TEXT NOT NULL,
  source TEXT NOT NULL,
  spec TEXT NOT NULL,
  idempotency_key TEXT UNIQUE,
  created_at REAL NOT NULL,
  started_at REAL NOT NULL DEFAULT 0,
  finished_at REAL NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  steps INTEGER NOT NULL DEFAULT 0,
  tokens INTEGER NOT NULL DEFAULT 0,
  summary TEXT NOT NULL DEFAULT '',
  patch TEXT,
  report TEXT,
  callback_state TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs(status, created_at);
-- Webhook deliveries that created a job ("github:<delivery id>"), so a redelivery finds it.
CREATE TABLE IF NOT EXISTS job_deliveries(
  key TEXT PRIMARY KEY,
  job_id TEXT NOT NULL
) WITHOUT ROWID;
)sql";

// A job that ends owes its callback, if it has a callback_url.
#define CALLBACK_STATE_ON_END "CASE WHEN json_extract(spec, '$.callback_url') IS NULL THEN '' ELSE 'pending' END"

constexpr const char* kJobColumns =
    "SELECT j.id, j.status, j.source, j.spec, j.created_at, j.started_at, j.finished_at, j.attempts, j.steps, "
    "j.tokens, j.summary, j.callback_state, EXISTS(SELECT 1 FROM sessions s WHERE s.id = j.id) FROM jobs j";

Job read_job(const SqliteStatement& st) {
  Job j;
  j.id = st.text(0);
  j.status = st.text(1);
  j.source = st.text(2);
  j.spec = json::parse(st.text(3), nullptr, false);
  j.created_at = st.real(4);
  j.started_at = st.real(5);
  j.finished_at = st.real(6);
  j.attempts = int(st.integer(7));
  j.steps = st.integer(8);
  j.tokens = st.integer(9);
  j.summary = st.text(10);
  j.callback_state = st.text(11);
  j.has_session = st.integer(12) != 0;
  return j;
}

// BEGIN IMMEDIATE ... COMMIT, rolled back if the body throws.
template <typename F>
auto in_transaction(sqlite3* db, F&& body) {
  if (sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
    throw StoreError(std::string("job store: ") + sqlite3_errmsg(db));
  try {
    auto result = body();
    if (sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK)
      throw StoreError(std::string("job store: ") + sqlite3_errmsg(db));
    return result;
  } catch (...) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

}  // namespace

std::string new_job_id() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char id[48];
  size_t n = std::strftime(id, sizeof id, "%Y%m%d-%H%M%S", &tm);
  std::snprintf(id + n, sizeof id - n, "-%012llx", static_cast<unsigned long long>(random() & 0xffffffffffffULL));
  return id;
}

json Job::to_json() const {
  json j = {{"id", id},
            {"status", status},
            {"source", source},
            {"recipe", spec.value("recipe_name", "")},
            {"repo", spec.value("repo", "")},
            {"task", spec.value("task", "")},
            {"steps", steps},
            {"tokens", tokens},
            {"summary", summary},
            {"attempts", attempts},
            {"timings", {{"created_at", created_at}, {"started_at", started_at}, {"finished_at", finished_at}}}};
  if (spec.contains("ref")) j["ref"] = spec["ref"];
  if (!callback_state.empty()) j["callback"] = callback_state;
  if (started_at > 0) j["timings"]["queued_s"] = started_at - created_at;
  if (finished_at > 0) j["timings"]["run_s"] = finished_at - started_at;
  return j;
}

JobStore::JobStore(const std::string& path, SessionStore::Durability durability) : sessions_(path, durability) {
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, nullptr) != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw StoreError("cannot open job store " + path + ": " + msg);
  }
  sqlite3_busy_timeout(db_, 5000);
  statements_.emplace(db_);
  exec(durability == SessionStore::Durability::Full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  exec(kSchema);
  SqliteStatement st = statements_->get("SELECT COUNT(*) FROM jobs WHERE status = 'queued'");
  st.step();
  queued_ = st.integer(0);
}

JobStore::~JobStore() {
  statements_.reset();  // finalized before the connection closes
  sqlite3_close(db_);
}

void JobStore::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw StoreError("job store: " + msg);
  }
}

// The events table belongs to SessionStore; this is its append (next seq of the session),
// done on this connection so it can share a transaction with the job's row.
int64_t JobStore::insert_event(const std::string& id, const std::string& type, const json& data) {
  SqliteStatement st = statements_->get(
      "INSERT INTO events(session_id, seq, ts, type, data) VALUES(?1, "
      "(SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE session_id = ?1), ?2, ?3, ?4) RETURNING seq");
  st.bind(1, id);
  st.bind(2, now_s());
  st.bind(3, type);
  st.bind(4, data.dump(-1, ' ', false, json::error_handler_t::replace));
  st.step();
  int64_t seq = st.integer(0);
  st.step();
  return seq;
}

JobStore::Enqueued JobStore::enqueue(const json& spec, const std::string& source, const std::string& dedupe_key,
                                     int max_queue) {
  std::lock_guard lock(mutex_);
  const std::string idem = spec.value("idempotency_key", "");
  auto result = in_transaction(db_, [&]() -> Enqueued {
    std::string existing;
    if (!dedupe_key.empty()) {
      SqliteStatement st = statements_->get("SELECT job_id FROM job_deliveries WHERE key = ?1");
      st.bind(1, dedupe_key);
      if (st.step()) existing = st.text(0);
    }
    if (existing.empty() && !idem.empty()) {
      SqliteStatement st = statements_->get("SELECT id FROM jobs WHERE idempotency_key = ?1");
      st.bind(1, idem);
      if (st.step()) existing = st.text(0);
    }
    if (!existing.empty()) return {*job_locked(existing), false};
    if (queued_ >= max_queue) throw QueueFull("the queue holds " + std::to_string(queued_) + " jobs already");

    Job job;
    job.id = new_job_id();
    job.status = "queued";
    job.source = source;
    job.spec = spec;
    job.created_at = now_s();
    SqliteStatement st = statements_->get(
        "INSERT INTO jobs(id, status, source, spec, idempotency_key, created_at) "
        "VALUES(?1, 'queued', ?2, ?3, ?4, ?5)");
    st.bind(1, job.id);
    st.bind(2, source);
    st.bind(3, spec.dump());
    if (idem.empty()) sqlite3_bind_null(st.get(), 4);
    else st.bind(4, idem);
    st.bind(5, job.created_at);
    st.step();
    if (!dedupe_key.empty()) {
      SqliteStatement d = statements_->get("INSERT INTO job_deliveries(key, job_id) VALUES(?1, ?2)");
      d.bind(1, dedupe_key);
      d.bind(2, job.id);
      d.step();
    }
    insert_event(job.id, "job_queued", {{"source", source}, {"recipe", spec.value("recipe_name", "")}});
    return {job, true};
  });
  if (result.created) ++queued_;
  return result;
}

std::optional<Job> JobStore::claim_next() {
  std::lock_guard lock(mutex_);
  return in_transaction(db_, [&]() -> std::optional<Job> {
    SqliteStatement st = statements_->get(
        "UPDATE jobs SET status = 'running', started_at = ?1, attempts = attempts + 1 WHERE id = "
        "(SELECT id FROM jobs WHERE status = 'queued' ORDER BY created_at LIMIT 1) RETURNING id");
    st.bind(1, now_s());
    if (!st.step()) return std::nullopt;
    std::string id = st.text(0);
    st.step();
    --queued_;
    std::optional<Job> job = job_locked(id);
    insert_event(id, "job_started", {{"attempt", job->attempts}});
    return job;
  });
}

void JobStore::finish(const std::string& id, const std::string& status, const std::string& summary, int64_t steps,
                      int64_t tokens, const std::string& patch, const json& report) {
  std::lock_guard lock(mutex_);
  in_transaction(db_, [&] {
    SqliteStatement st = statements_->get(
        "UPDATE jobs SET status = ?2, summary = ?3, steps = ?4, tokens = ?5, patch = ?6, report = ?7, "
        "finished_at = ?8, callback_state = " CALLBACK_STATE_ON_END " WHERE id = ?1");
    st.bind(1, id);
    st.bind(2, status);
    st.bind(3, summary);
    st.bind(4, steps);
    st.bind(5, tokens);
    st.bind(6, patch);
    st.bind(7, report.dump());
    st.bind(8, now_s());
    st.step();
    insert_event(id, "job_end", {{"status", status}, {"summary", summary}, {"steps", steps}, {"tokens", tokens}});
    return 0;
  });
}

bool JobStore::cancel_queued(const std::string& id) {
  std::lock_guard lock(mutex_);
  return in_transaction(db_, [&] {
    SqliteStatement st = statements_->get(
        "UPDATE jobs SET status = 'cancelled', summary = 'cancelled before it started', finished_at = ?2, "
        "callback_state = " CALLBACK_STATE_ON_END " WHERE id = ?1 AND status = 'queued'");
    st.bind(1, id);
    st.bind(2, now_s());
    st.step();
    if (sqlite3_changes(db_) == 0) return false;
    --queued_;
    insert_event(id, "job_end", {{"status", "cancelled"}, {"summary", "cancelled before it started"}});
    return true;
  });
}

int JobStore::recover_running(bool resume) {
  std::lock_guard lock(mutex_);
  return in_transaction(db_, [&] {
    std::vector<std::string> ids;
    {
      SqliteStatement st = statements_->get("SELECT id FROM jobs WHERE status = 'running'");
      while (st.step()) ids.push_back(st.text(0));
    }
    const std::string reason = "the server stopped while the job ran";
    for (const auto& id : ids) {
      if (resume) {
        SqliteStatement st = statements_->get("UPDATE jobs SET status = 'queued' WHERE id = ?1");
        st.bind(1, id);
        st.step();
        insert_event(id, "job_requeued", {{"reason", reason + "; it resumes from its session"}});
        ++queued_;
      } else {
        SqliteStatement st = statements_->get(
            "UPDATE jobs SET status = 'failed', summary = ?2, finished_at = ?3, "
            "callback_state = " CALLBACK_STATE_ON_END " WHERE id = ?1");
        st.bind(1, id);
        st.bind(2, reason + " (on_restart = fail)");
        st.bind(3, now_s());
        st.step();
        insert_event(id, "job_end", {{"status", "failed"}, {"summary", reason + " (on_restart = fail)"}});
      }
    }
    return int(ids.size());
  });
}

std::optional<Job> JobStore::job_locked(const std::string& id) {
  SqliteStatement st = statements_->get((std::string(kJobColumns) + " WHERE j.id = ?1").c_str());
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return read_job(st);
}

std::optional<Job> JobStore::job(const std::string& id) {
  std::lock_guard lock(mutex_);
  return job_locked(id);
}

std::vector<Job> JobStore::list(const std::string& status, int limit) {
  std::lock_guard lock(mutex_);
  SqliteStatement st = statements_->get(
      (std::string(kJobColumns) + " WHERE (?1 = '' OR j.status = ?1) ORDER BY j.created_at DESC, j.id DESC LIMIT ?2")
          .c_str());
  st.bind(1, status);
  st.bind(2, int64_t(limit));
  std::vector<Job> out;
  while (st.step()) out.push_back(read_job(st));
  return out;
}

std::optional<std::string> JobStore::patch(const std::string& id) {
  std::lock_guard lock(mutex_);
  SqliteStatement st = statements_->get("SELECT patch FROM jobs WHERE id = ?1 AND patch IS NOT NULL");
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return st.text(0);
}

std::optional<json> JobStore::report(const std::string& id) {
  std::lock_guard lock(mutex_);
  SqliteStatement st = statements_->get("SELECT report FROM jobs WHERE id = ?1 AND report IS NOT NULL");
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return json::parse(st.text(0), nullptr, false);
}

std::map<std::string, int64_t> JobStore::count_by_status() {
  std::lock_guard lock(mutex_);
  std::map<std::string, int64_t> counts = {
      {"queued", 0}, {"running", 0}, {"succeeded", 0}, {"failed", 0}, {"cancelled", 0}};
  SqliteStatement st = statements_->get("SELECT status, COUNT(*) FROM jobs GROUP BY status");
  while (st.step()) counts[st.text(0)] = st.integer(1);
  return counts;
}

int64_t JobStore::queued() const {
  std::lock_guard lock(mutex_);
  return queued_;
}

std::vector<StoredEvent> JobStore::events(const std::string& id, int64_t after_seq) {
  std::lock_guard lock(mutex_);
  return sessions_.events(id, after_seq);
}

int64_t JobStore::append_event(const std::string& id, const std::string& type, const json& data) {
  std::lock_guard lock(mutex_);
  return insert_event(id, type, data);
}

void JobStore::set_callback_state(const std::string& id, const std::string& state) {
  std::lock_guard lock(mutex_);
  SqliteStatement st = statements_->get("UPDATE jobs SET callback_state = ?2 WHERE id = ?1");
  st.bind(1, id);
  st.bind(2, state);
  st.step();
}

std::vector<Job> JobStore::pending_callbacks() {
  std::lock_guard lock(mutex_);
  SqliteStatement st = statements_->get((std::string(kJobColumns) + " WHERE j.callback_state = 'pending'").c_str());
  std::vector<Job> out;
  while (st.step()) out.push_back(read_job(st));
  return out;
}

}  // namespace nagent::serve
