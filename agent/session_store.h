// SessionStore: every session's events in one SQLite database under NAGENT_HOME.
// Each append is its own transaction (WAL), committed before the caller goes on, so a
// killed run loses at most the step in flight and `--resume` continues from the log.
//
// Durability::Normal (the default) commits to the write-ahead log without an fsync per
// event: a killed nagent loses nothing committed; a power loss may lose the last events
// but never corrupts the store. Durability::Full adds an fsync per event (NAGENT_DURABILITY
// =full), which costs a disk flush per step (milliseconds on most disks).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/chat.h"

struct sqlite3;
struct sqlite3_stmt;

namespace nagent {

struct SessionInfo {
  std::string id;
  double created_at = 0;  // unix seconds
  double updated_at = 0;
  std::string recipe;
  std::string repo;
  std::string task;
  std::string status;     // "running" | "succeeded" | "failed" | "error"
  int64_t event_count = 0;
};

struct StoredEvent {
  int64_t seq = 0;        // 1, 2, ... within the session
  double ts = 0;
  std::string type;
  json data;
};

struct StoreError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class SessionStore {
 public:
  enum class Durability { Full, Normal };  // Full: fsync per commit; Normal: survives kill -9
  // Opens (creating if needed) the database at path.
  explicit SessionStore(const std::string& path, Durability durability = Durability::Normal);
  // The durability NAGENT_DURABILITY asks for ("full" or "normal"; default normal).
  static Durability durability_from_env();
  ~SessionStore();
  SessionStore(const SessionStore&) = delete;
  SessionStore& operator=(const SessionStore&) = delete;

  const std::string& path() const { return path_; }
  Durability durability() const { return durability_; }

  // $NAGENT_HOME/sessions.db, NAGENT_HOME defaulting to ~/.nagent (created if missing).
  static std::string default_path();
  // A new id like "20261123-172733-3f9a1c".
  static std::string new_session_id();

  // Throws StoreError if the id exists already.
  void create_session(const SessionInfo& info);
  std::optional<SessionInfo> session(const std::string& id) const;
  std::vector<SessionInfo> list_sessions(int limit = 50) const;
  void set_status(const std::string& id, const std::string& status);

  // Appends one event and commits it; returns its seq.
  int64_t append(const std::string& session_id, const std::string& type, const json& data);
  std::vector<StoredEvent> events(const std::string& session_id, int64_t after_seq = 0) const;
  // A new session `to` holding the events of `from` up to and including seq through_seq
  // (one transaction). Throws StoreError if `to` exists already.
  void fork_session(const std::string& from, const SessionInfo& to, int64_t through_seq);

 private:
  std::string path_;
  Durability durability_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_event_ = nullptr;
  sqlite3_stmt* touch_session_ = nullptr;
  void exec(const char* sql) const;
  [[noreturn]] void raise(const std::string& what) const;
};

}  // namespace nagent
