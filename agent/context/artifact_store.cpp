#include "agent/context/artifact_store.h"

#include <openssl/evp.h>
#include <sqlite3.h>
#include <zlib.h>

#include <algorithm>

#include "agent/sqlite_statement.h"

namespace nagent {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS artifacts(
  id TEXT PRIMARY KEY,
  bytes INTEGER NOT NULL,
  lines INTEGER NOT NULL,
  deflated BLOB NOT NULL
);
)sql";

std::string deflate_text(const std::string& text) {
  uLongf size = compressBound(uLong(text.size()));
  std::string out(size, '\0');
  // Level 1: most of the size win for a fraction of the time; appends stay fast.
  if (compress2(reinterpret_cast<Bytef*>(out.data()), &size, reinterpret_cast<const Bytef*>(text.data()),
                uLong(text.size()), 1) != Z_OK)
    throw StoreError("artifact store: compressing an artifact failed");
  out.resize(size);
  return out;
}

std::string inflate_text(const void* data, size_t size, uint64_t bytes, const std::string& id) {
  std::string out(bytes, '\0');
  uLongf got = uLongf(bytes);
  if (uncompress(reinterpret_cast<Bytef*>(out.data()), &got, static_cast<const Bytef*>(data), uLong(size)) != Z_OK ||
      got != bytes)
    throw StoreError("artifact store: artifact " + id + " is corrupt");
  return out;
}

}  // namespace

ArtifactStore::ArtifactStore(const std::string& db_path, SessionStore::Durability durability) {
  if (sqlite3_open_v2(db_path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw StoreError("cannot open the artifact store " + db_path + ": " + msg);
  }
  sqlite3_busy_timeout(db_, 5000);
  const std::string pragmas = std::string("PRAGMA journal_mode=WAL; PRAGMA synchronous=") +
                              (durability == SessionStore::Durability::Full ? "FULL;" : "NORMAL;") + kSchema;
  char* err = nullptr;
  if (sqlite3_exec(db_, pragmas.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    sqlite3_close(db_);
    throw StoreError("artifact store: " + msg);
  }
}

ArtifactStore::~ArtifactStore() { sqlite3_close(db_); }

std::string ArtifactStore::id_of(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr) != 1)
    throw StoreError("artifact store: SHA-256 failed");
  static const char* hex = "0123456789abcdef";
  std::string id = "art_";
  for (int i = 0; i < 8; ++i) {
    id += hex[digest[i] >> 4];
    id += hex[digest[i] & 15];
  }
  return id;
}

ArtifactInfo ArtifactStore::put(const std::string& text) {
  ArtifactInfo a{id_of(text), text.size(), uint64_t(std::count(text.begin(), text.end(), '\n'))};
  if (!text.empty() && text.back() != '\n') ++a.lines;
  const std::string deflated = deflate_text(text);
  std::lock_guard lock(mutex_);
  SqliteStatement st(db_, "INSERT OR IGNORE INTO artifacts(id, bytes, lines, deflated) VALUES(?1, ?2, ?3, ?4)");
  st.bind(1, a.id);
  st.bind(2, int64_t(a.bytes));
  st.bind(3, int64_t(a.lines));
  sqlite3_bind_blob(st.get(), 4, deflated.data(), int(deflated.size()), SQLITE_STATIC);
  st.step();
  return a;
}

std::optional<ArtifactInfo> ArtifactStore::info(const std::string& id) const {
  std::lock_guard lock(mutex_);
  SqliteStatement st(db_, "SELECT bytes, lines FROM artifacts WHERE id = ?1");
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return ArtifactInfo{id, uint64_t(st.integer(0)), uint64_t(st.integer(1))};
}

std::optional<std::string> ArtifactStore::artifact_text(const std::string& id) const {
  std::lock_guard lock(mutex_);
  SqliteStatement st(db_, "SELECT bytes, deflated FROM artifacts WHERE id = ?1");
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return inflate_text(sqlite3_column_blob(st.get(), 1), size_t(sqlite3_column_bytes(st.get(), 1)),
                      uint64_t(st.integer(0)), id);
}

}  // namespace nagent
