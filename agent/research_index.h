// CorpusIndex: a full-text index of a document corpus for the research recipe, in SQLite
// FTS5 (porter-stemmed unicode61 tokens, BM25 ranking with section titles weighted above
// body text). Documents are chunked (agent/corpus_chunker.h); a chunk's id is
// "<document path>#<ordinal>", stable for the same document text.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "agent/corpus_chunker.h"

struct sqlite3;

namespace nagent {

struct CorpusChunk {
  std::string id;       // "notes/intro.md#3"
  std::string doc;      // "notes/intro.md"
  std::string section;  // "Intro > Scope"
  std::string text;
};

struct CorpusHit {
  std::string id, doc, section;
  std::string snippet;  // the matching part, terms in [brackets]
  double score = 0;     // BM25: lower is better (SQLite's sign convention)
};

struct CorpusStats {
  int documents = 0;
  int chunks = 0;
  uint64_t bytes = 0;
  std::vector<std::string> skipped;  // "path: why"
};

// Turns a file the index cannot read itself (a PDF) into text, or nullopt with why.
using TextExtractor = std::function<std::optional<std::string>(const std::filesystem::path&, std::string& why)>;

class CorpusIndex {
 public:
  // db_path ":memory:" (default) or a file, which is created and replaced.
  explicit CorpusIndex(const std::string& db_path = ":memory:");
  ~CorpusIndex();
  CorpusIndex(const CorpusIndex&) = delete;
  CorpusIndex& operator=(const CorpusIndex&) = delete;

  // Indexes every .md/.markdown/.txt/.text/.rst/.html/.htm file under dir (and .pdf files
  // through pdf, when given), in one transaction; doc ids are paths relative to dir.
  CorpusStats add_directory(const std::filesystem::path& dir, const TextExtractor& pdf = nullptr);
  // Returns the number of chunks added.
  int add_document(const std::string& doc, const std::string& text, DocumentFormat format);

  // The best `limit` chunks for a free-text query (any of its words; "quoted phrases" kept).
  // A query with no searchable word gives no hits.
  std::vector<CorpusHit> search(const std::string& query, int limit = 8) const;
  std::optional<CorpusChunk> chunk(const std::string& id) const;
  // "" when quote occurs verbatim (whitespace runs compared as one space) in chunk id,
  // else why not.
  std::string quote_problem(const std::string& id, const std::string& quote) const;
  const CorpusStats& stats() const { return stats_; }

 private:
  sqlite3* db_ = nullptr;
  CorpusStats stats_;
  void exec(const char* sql);
};

// The FTS5 MATCH expression for a free-text query: each word and "phrase" quoted, joined
// with OR; "" when there is nothing to search for.
std::string fts_query(const std::string& text);

}  // namespace nagent
