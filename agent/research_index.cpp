#include "agent/research_index.h"

#include <sqlite3.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

namespace nagent {
namespace {

namespace fs = std::filesystem;

// One prepared statement, finalized on scope exit.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
      throw std::runtime_error(std::string("corpus index: ") + sqlite3_errmsg(db));
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  sqlite3_stmt* get() { return stmt_; }
  void bind(int i, const std::string& s) { sqlite3_bind_text(stmt_, i, s.data(), int(s.size()), SQLITE_TRANSIENT); }
  void bind(int i, int v) { sqlite3_bind_int(stmt_, i, v); }
  std::string text(int col) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, size_t(sqlite3_column_bytes(stmt_, col))) : std::string();
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

bool indexable(const std::string& ext) {
  static const std::set<std::string> kinds = {".md", ".markdown", ".txt", ".text", ".rst", ".html", ".htm"};
  return kinds.count(ext) > 0;
}

std::string lower(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string fts_query(const std::string& text) {
  std::vector<std::string> terms;
  auto add = [&](std::string t) {
    if (!t.empty() && std::find(terms.begin(), terms.end(), t) == terms.end()) terms.push_back(std::move(t));
  };
  std::string word;
  auto word_char = [](unsigned char c) { return std::isalnum(c) || c >= 0x80; };
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '"') {
      add(lower(word));
      word.clear();
      const size_t end = text.find('"', i + 1);
      if (end == std::string::npos) continue;
      // A phrase: its words, space-separated, no quotes inside.
      std::string phrase, w;
      for (size_t k = i + 1; k <= end; ++k) {
        const unsigned char d = static_cast<unsigned char>(text[k]);
        if (k < end && word_char(d)) {
          w += char(d);
        } else if (!w.empty()) {
          if (!phrase.empty()) phrase += ' ';
          phrase += lower(w);
          w.clear();
        }
      }
      add(phrase);
      i = end;
    } else if (word_char(c)) {
      word += char(c);
    } else {
      add(lower(word));
      word.clear();
    }
  }
  add(lower(word));
  std::string out;
  for (const auto& t : terms) {
    out += out.empty() ? "\"" : " OR \"";
    out += t;
    out += '"';
  }
  return out;
}

CorpusIndex::CorpusIndex(const std::string& db_path) {
  if (db_path != ":memory:") {
    std::error_code ec;
    fs::remove(db_path, ec);
  }
  if (sqlite3_open_v2(db_path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw std::runtime_error("corpus index: cannot open " + db_path + ": " + why);
  }
  exec("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
       "CREATE TABLE chunks(rowid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, doc TEXT NOT NULL,"
       "  section TEXT NOT NULL, text TEXT NOT NULL);"
       "CREATE VIRTUAL TABLE chunks_fts USING fts5(section, text, content='chunks', content_rowid='rowid',"
       "  tokenize='porter unicode61');");
}

CorpusIndex::~CorpusIndex() { sqlite3_close(db_); }

void CorpusIndex::exec(const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string why = error ? error : "unknown error";
    sqlite3_free(error);
    throw std::runtime_error("corpus index: " + why);
  }
}

int CorpusIndex::add_document(const std::string& doc, const std::string& text, DocumentFormat format) {
  Statement insert(db_, "INSERT INTO chunks(id, doc, section, text) VALUES(?, ?, ?, ?)");
  Statement insert_fts(db_, "INSERT INTO chunks_fts(rowid, section, text) VALUES(last_insert_rowid(), ?, ?)");
  int ordinal = 0;
  for (const auto& c : chunk_document(text, format)) {
    insert.bind(1, doc + "#" + std::to_string(++ordinal));
    insert.bind(2, doc);
    insert.bind(3, c.section);
    insert.bind(4, c.text);
    if (sqlite3_step(insert.get()) != SQLITE_DONE)
      throw std::runtime_error(std::string("corpus index: ") + sqlite3_errmsg(db_));
    sqlite3_reset(insert.get());
    insert_fts.bind(1, c.section);
    insert_fts.bind(2, c.text);
    if (sqlite3_step(insert_fts.get()) != SQLITE_DONE)
      throw std::runtime_error(std::string("corpus index: ") + sqlite3_errmsg(db_));
    sqlite3_reset(insert_fts.get());
  }
  ++stats_.documents;
  stats_.chunks += ordinal;
  stats_.bytes += text.size();
  return ordinal;
}

CorpusStats CorpusIndex::add_directory(const fs::path& dir, const TextExtractor& pdf) {
  if (!fs::is_directory(dir)) throw std::runtime_error("corpus index: " + dir.string() + " is not a folder");
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied);
       it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_directory() && it->path().filename().string().starts_with(".")) {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file()) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());  // the same corpus indexes the same way
  exec("BEGIN");
  try {
    for (const auto& file : files) {
      const std::string rel = file.lexically_relative(dir).generic_string();
      const std::string ext = lower(file.extension().string());
      std::string text;
      DocumentFormat format = format_for(rel);
      if (indexable(ext)) {
        std::ifstream in(file, std::ios::binary);
        std::ostringstream ss;
        ss << in.rdbuf();
        text = ss.str();
      } else if (ext == ".pdf" && pdf) {
        std::string why;
        auto extracted = pdf(file, why);
        if (!extracted) {
          stats_.skipped.push_back(rel + ": " + why);
          continue;
        }
        text = std::move(*extracted);
        format = DocumentFormat::Text;
      } else {
        stats_.skipped.push_back(rel + ": not a document format the index reads");
        continue;
      }
      add_document(rel, text, format);
    }
    exec("COMMIT");
  } catch (...) {
    exec("ROLLBACK");
    throw;
  }
  return stats_;
}

std::vector<CorpusHit> CorpusIndex::search(const std::string& query, int limit) const {
  std::vector<CorpusHit> hits;
  const std::string match = fts_query(query);
  if (match.empty()) return hits;
  Statement s(db_,
              "SELECT c.id, c.doc, c.section, snippet(chunks_fts, 1, '[', ']', '...', 24), "
              "bm25(chunks_fts, 2.0, 1.0) AS score "
              "FROM chunks_fts JOIN chunks c ON c.rowid = chunks_fts.rowid "
              "WHERE chunks_fts MATCH ? ORDER BY score LIMIT ?");
  s.bind(1, match);
  s.bind(2, std::max(1, limit));
  while (sqlite3_step(s.get()) == SQLITE_ROW)
    hits.push_back({s.text(0), s.text(1), s.text(2), s.text(3), sqlite3_column_double(s.get(), 4)});
  return hits;
}

std::optional<CorpusChunk> CorpusIndex::chunk(const std::string& id) const {
  Statement s(db_, "SELECT id, doc, section, text FROM chunks WHERE id = ?");
  s.bind(1, id);
  if (sqlite3_step(s.get()) != SQLITE_ROW) return std::nullopt;
  return CorpusChunk{s.text(0), s.text(1), s.text(2), s.text(3)};
}

std::string CorpusIndex::quote_problem(const std::string& id, const std::string& quote) const {
  auto c = chunk(id);
  if (!c) return "no chunk " + id + " in the corpus";
  const std::string q = collapse_whitespace(quote);
  if (q.empty()) return "the quote is empty";
  if (collapse_whitespace(c->text).find(q) == std::string::npos) return "the quote is not in " + id;
  return "";
}

}  // namespace nagent
