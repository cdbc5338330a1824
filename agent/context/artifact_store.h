// ArtifactStore: tool outputs too long for the context, stored whole in the sessions
// database (table `artifacts`), content-addressed: the id is "art_" + the first 16 hex
// digits of the text's SHA-256, so the same output stored twice is one row, and a forked
// or resumed session finds its artifacts by the ids its events name. The text is kept
// zlib-compressed (tool output compresses several-fold), which keeps the store smaller
// than the raw text it holds.
//
// Opens its own connection (like serve's JobStore), so an artifact is committed on its
// own before the event that names it; a crash between the two leaves an unnamed row,
// never an event naming a missing artifact.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "agent/session_store.h"
#include "tools/artifact_reader.h"

namespace nagent {

struct ArtifactInfo {
  std::string id;
  uint64_t bytes = 0;  // of the text
  uint64_t lines = 0;
};

class ArtifactStore : public ArtifactReader {
 public:
  explicit ArtifactStore(const std::string& db_path,
                         SessionStore::Durability durability = SessionStore::Durability::Normal);
  ~ArtifactStore() override;
  ArtifactStore(const ArtifactStore&) = delete;
  ArtifactStore& operator=(const ArtifactStore&) = delete;

  static std::string id_of(const std::string& text);
  // Stores text (once: an existing id is left as it is) and commits; returns its handle.
  ArtifactInfo put(const std::string& text);
  std::optional<ArtifactInfo> info(const std::string& id) const;
  std::optional<std::string> artifact_text(const std::string& id) const override;

 private:
  sqlite3* db_ = nullptr;
  mutable std::mutex mutex_;
};

}  // namespace nagent
