#include "agent/session_store.h"

#include <sqlite3.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <random>

#include "agent/sqlite_statement.h"

namespace nagent {
namespace {

double now_s() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS sessions(
  id TEXT PRIMARY KEY,
  created_at REAL NOT NULL,
  updated_at REAL NOT NULL,
  recipe TEXT NOT NULL DEFAULT '',
  repo TEXT NOT NULL DEFAULT '',
  task TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT 'running',
  event_count INTEGER NOT NULL DEFAULT 0
);
-- A rowid table: events are large rows (tool outputs), which WITHOUT ROWID tables store badly.
CREATE TABLE IF NOT EXISTS events(
  session_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  ts REAL NOT NULL,
  type TEXT NOT NULL,
  data TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_by_session ON events(session_id, seq);
)sql";

SessionInfo read_session(const SqliteStatement& st) {
  SessionInfo s;
  s.id = st.text(0);
  s.created_at = st.real(1);
  s.updated_at = st.real(2);
  s.recipe = st.text(3);
  s.repo = st.text(4);
  s.task = st.text(5);
  s.status = st.text(6);
  s.event_count = st.integer(7);
  return s;
}

constexpr const char* kSessionColumns =
    "SELECT id, created_at, updated_at, recipe, repo, task, status, event_count FROM sessions";

}  // namespace

SessionStore::SessionStore(const std::string& path, Durability durability) : path_(path), durability_(durability) {
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw StoreError("cannot open session store " + path + ": " + msg +
                     " (set NAGENT_HOME to a writable directory)");
  }
  sqlite3_busy_timeout(db_, 5000);
  exec("PRAGMA journal_mode=WAL");
  exec(durability == Durability::Full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  exec(kSchema);
  const char* insert =
      "INSERT INTO events(session_id, seq, ts, type, data) VALUES(?1, "
      "(SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE session_id = ?1), ?2, ?3, ?4) RETURNING seq";
  const char* touch = "UPDATE sessions SET updated_at = ?2, event_count = event_count + 1 WHERE id = ?1";
  if (sqlite3_prepare_v3(db_, insert, -1, SQLITE_PREPARE_PERSISTENT, &insert_event_, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v3(db_, touch, -1, SQLITE_PREPARE_PERSISTENT, &touch_session_, nullptr) != SQLITE_OK)
    raise("prepare");
}

SessionStore::~SessionStore() {
  sqlite3_finalize(insert_event_);
  sqlite3_finalize(touch_session_);
  sqlite3_close(db_);
}

std::string SessionStore::default_path() {
  namespace fs = std::filesystem;
  fs::path home;
  if (const char* h = std::getenv("NAGENT_HOME"); h && *h) {
    home = h;
  } else {
    const char* user_home = std::getenv("HOME");
    home = fs::path(user_home && *user_home ? user_home : "/tmp") / ".nagent";
  }
  std::error_code ec;
  fs::create_directories(home, ec);
  if (ec) throw StoreError("cannot create NAGENT_HOME " + home.string() + ": " + ec.message());
  return (home / "sessions.db").string();
}

SessionStore::Durability SessionStore::durability_from_env() {
  const char* v = std::getenv("NAGENT_DURABILITY");
  if (!v || !*v || std::string(v) == "normal") return Durability::Normal;
  if (std::string(v) == "full") return Durability::Full;
  throw StoreError(std::string("NAGENT_DURABILITY must be 'normal' or 'full', got '") + v + "'");
}

std::string SessionStore::new_session_id() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  std::random_device rd;
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, "%06x", unsigned(rd()) & 0xffffffu);
  return std::string(stamp) + "-" + suffix;
}

void SessionStore::exec(const char* sql) const {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw StoreError("session store: " + msg);
  }
}

void SessionStore::raise(const std::string& what) const {
  throw StoreError("session store (" + what + "): " + sqlite3_errmsg(db_));
}

void SessionStore::create_session(const SessionInfo& info) {
  SqliteStatement st(db_,
               "INSERT INTO sessions(id, created_at, updated_at, recipe, repo, task, status) "
               "VALUES(?1, ?2, ?2, ?3, ?4, ?5, ?6)");
  double now = info.created_at > 0 ? info.created_at : now_s();
  st.bind(1, info.id);
  sqlite3_bind_double(st.get(), 2, now);
  st.bind(3, info.recipe);
  st.bind(4, info.repo);
  st.bind(5, info.task);
  st.bind(6, info.status.empty() ? std::string("running") : info.status);
  int rc = sqlite3_step(st.get());
  if (rc == SQLITE_CONSTRAINT) throw StoreError("session '" + info.id + "' exists already; use --resume " + info.id);
  if (rc != SQLITE_DONE) raise("create session");
}

std::optional<SessionInfo> SessionStore::session(const std::string& id) const {
  SqliteStatement st(db_, (std::string(kSessionColumns) + " WHERE id = ?1").c_str());
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return read_session(st);
}

std::vector<SessionInfo> SessionStore::list_sessions(int limit) const {
  SqliteStatement st(db_, (std::string(kSessionColumns) + " ORDER BY created_at DESC LIMIT ?1").c_str());
  st.bind(1, int64_t(limit));
  std::vector<SessionInfo> out;
  while (st.step()) out.push_back(read_session(st));
  return out;
}

void SessionStore::set_status(const std::string& id, const std::string& status) {
  SqliteStatement st(db_, "UPDATE sessions SET status = ?2, updated_at = ?3 WHERE id = ?1");
  st.bind(1, id);
  st.bind(2, status);
  sqlite3_bind_double(st.get(), 3, now_s());
  st.step();
}

int64_t SessionStore::append(const std::string& session_id, const std::string& type, const json& data) {
  const std::string body = data.dump(-1, ' ', false, json::error_handler_t::replace);
  const double now = now_s();
  exec("BEGIN IMMEDIATE");
  int64_t seq = 0;
  try {
    sqlite3_reset(insert_event_);
    sqlite3_bind_text(insert_event_, 1, session_id.data(), int(session_id.size()), SQLITE_STATIC);
    sqlite3_bind_double(insert_event_, 2, now);
    sqlite3_bind_text(insert_event_, 3, type.data(), int(type.size()), SQLITE_STATIC);
    sqlite3_bind_text(insert_event_, 4, body.data(), int(body.size()), SQLITE_STATIC);
    if (sqlite3_step(insert_event_) != SQLITE_ROW) raise("append event");
    seq = sqlite3_column_int64(insert_event_, 0);
    if (sqlite3_step(insert_event_) != SQLITE_DONE) raise("append event");
    sqlite3_reset(touch_session_);
    sqlite3_bind_text(touch_session_, 1, session_id.data(), int(session_id.size()), SQLITE_STATIC);
    sqlite3_bind_double(touch_session_, 2, now);
    if (sqlite3_step(touch_session_) != SQLITE_DONE) raise("append event");
    exec("COMMIT");
  } catch (...) {
    sqlite3_reset(insert_event_);
    sqlite3_reset(touch_session_);
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  sqlite3_reset(insert_event_);
  sqlite3_reset(touch_session_);
  return seq;
}

std::vector<StoredEvent> SessionStore::events(const std::string& session_id, int64_t after_seq) const {
  SqliteStatement st(db_, "SELECT seq, ts, type, data FROM events WHERE session_id = ?1 AND seq > ?2 ORDER BY seq");
  st.bind(1, session_id);
  st.bind(2, after_seq);
  std::vector<StoredEvent> out;
  while (st.step()) {
    StoredEvent e;
    e.seq = st.integer(0);
    e.ts = st.real(1);
    e.type = st.text(2);
    e.data = json::parse(st.text(3), nullptr, false);
    if (e.data.is_discarded()) throw StoreError("session store: event " + std::to_string(e.seq) + " of " + session_id + " is corrupt");
    out.push_back(std::move(e));
  }
  return out;
}

void SessionStore::fork_session(const std::string& from, const SessionInfo& to, int64_t through_seq) {
  exec("BEGIN IMMEDIATE");
  try {
    create_session(to);
    SqliteStatement copy(db_,
                         "INSERT INTO events(session_id, seq, ts, type, data) SELECT ?1, seq, ts, type, data FROM events "
                         "WHERE session_id = ?2 AND seq <= ?3 ORDER BY seq");
    copy.bind(1, to.id);
    copy.bind(2, from);
    copy.bind(3, through_seq);
    copy.step();
    SqliteStatement count(db_, "UPDATE sessions SET event_count = (SELECT COUNT(*) FROM events WHERE session_id = ?1) "
                               "WHERE id = ?1");
    count.bind(1, to.id);
    count.step();
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

}  // namespace nagent
