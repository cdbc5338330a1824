// SqliteStatement: RAII for one prepared SQLite statement, shared by the stores that live in
// the sessions database (SessionStore, serve's JobStore); StatementCache keeps the statements
// of a hot path prepared across uses. Errors throw StoreError.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <string>

#include "agent/session_store.h"

namespace nagent {

class SqliteStatement {
 public:
  SqliteStatement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
      throw StoreError(std::string("session store: ") + sqlite3_errmsg(db));
  }
  // A statement owned by a StatementCache: reset for its next use instead of finalized.
  SqliteStatement(sqlite3* db, sqlite3_stmt* cached) : db_(db), stmt_(cached), cached_(true) {}
  ~SqliteStatement() {
    if (!cached_) {
      sqlite3_finalize(stmt_);
      return;
    }
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;
  sqlite3_stmt* get() const { return stmt_; }
  void bind(int i, const std::string& s) { sqlite3_bind_text(stmt_, i, s.data(), int(s.size()), SQLITE_TRANSIENT); }
  void bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void bind(int i, double v) { sqlite3_bind_double(stmt_, i, v); }
  // True for a row, false when done.
  bool step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw StoreError(std::string("session store: ") + sqlite3_errmsg(db_));
  }
  std::string text(int col) const {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, size_t(sqlite3_column_bytes(stmt_, col))) : std::string();
  }
  double real(int col) const { return sqlite3_column_double(stmt_, col); }
  int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  bool cached_ = false;
};

// Prepared statements by SQL text, kept until the cache is destroyed (before its connection).
// Not thread-safe: use under the lock that guards the connection. One SQL text has one
// statement, so a use must end (go out of scope) before the same SQL is used again.
class StatementCache {
 public:
  explicit StatementCache(sqlite3* db) : db_(db) {}
  ~StatementCache() {
    for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  }
  StatementCache(const StatementCache&) = delete;
  StatementCache& operator=(const StatementCache&) = delete;
  SqliteStatement get(const char* sql) {
    sqlite3_stmt*& stmt = statements_[sql];
    if (!stmt && sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK)
      throw StoreError(std::string("session store: ") + sqlite3_errmsg(db_));
    return SqliteStatement(db_, stmt);
  }

 private:
  sqlite3* db_;
  std::map<std::string, sqlite3_stmt*> statements_;
};

}  // namespace nagent
