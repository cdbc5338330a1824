// bench_research_index: the research recipe's corpus index (agent/research_index).
//   1. indexing examples/research_corpus (30 documents), median of 9 runs;
//   2. search latency over 200 two-to-three-word queries on that index (p50, p99), against a
//      naive baseline in the same run: a case-insensitive substring scan of every chunk;
//   3. indexing ~100 MB of generated Markdown (10,000 files of ~10 KB; Zipf-distributed
//      words, headings every ~25 lines), against the floor of the same run: reading the files
//      and inserting their chunks into a plain SQLite table (no full-text index).
// Usage: bench_research_index [MEGABYTES]   (default 100)
#include <sqlite3.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "agent/research_index.h"
#include "bench/bench_util.h"

namespace fs = std::filesystem;
using namespace nagent;

namespace {

const fs::path kCorpus = fs::path(NAGENT_BENCH_SOURCE_DIR) / "examples/research_corpus/docs";

std::string lower(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Generated words: "ka", "lomi", ... from a fixed seed, drawn with Zipf weights.
struct WordSource {
  std::vector<std::string> words;
  std::vector<double> cumulative;
  unsigned seed = 2026;
  WordSource(size_t n) {
    const char* syl[] = {"ka", "lo", "mi", "ren", "tu", "sa", "vel", "or", "ni", "pa", "que", "dra", "em", "sol"};
    double total = 0;
    for (size_t i = 0; i < n; ++i) {
      std::string w;
      size_t x = i + 7;
      do {
        w += syl[x % 14];
        x /= 14;
      } while (x > 0);
      words.push_back(w);
      total += 1.0 / double(i + 1);
      cumulative.push_back(total);
    }
    for (auto& c : cumulative) c /= total;
  }
  double uniform() { return (seed = seed * 1103515245u + 12345u, double((seed >> 8) & 0xFFFFFF) / double(0x1000000)); }
  const std::string& next() {
    const double u = uniform();
    return words[size_t(std::lower_bound(cumulative.begin(), cumulative.end(), u) - cumulative.begin()) %
                 words.size()];
  }
};

fs::path make_corpus(double megabytes) {
  std::string tmpl = (fs::temp_directory_path() / "nagent-bench-corpus-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp");
  fs::path root = tmpl;
  WordSource source(20000);
  const uint64_t target = uint64_t(megabytes * 1024 * 1024);
  uint64_t written = 0;
  for (int file = 0; written < target; ++file) {
    fs::path dir = root / ("d" + std::to_string(file / 500));
    if (file % 500 == 0) fs::create_directories(dir);
    std::string text = "# Document " + std::to_string(file) + "\n\n";
    for (int line = 0; text.size() < 10 * 1024; ++line) {
      if (line % 25 == 24) text += "\n## Section " + source.next() + " " + source.next() + "\n\n";
      for (int w = 0; w < 12; ++w) text += source.next() + (w == 11 ? ".\n" : " ");
      if (line % 5 == 4) text += "\n";
    }
    std::ofstream(dir / ("doc" + std::to_string(file) + ".md")) << text;
    written += text.size();
  }
  return root;
}

// The floor: the same files read and chunked, the chunks inserted into a plain table.
double plain_insert_ms(const fs::path& dir) {
  sqlite3* db = nullptr;
  sqlite3_open(":memory:", &db);
  sqlite3_exec(db, "CREATE TABLE chunks(id TEXT, section TEXT, text TEXT); BEGIN", nullptr, nullptr, nullptr);
  sqlite3_stmt* insert = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO chunks VALUES(?, ?, ?)", -1, &insert, nullptr);
  const double t0 = bench::now_ms();
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path());
    std::ostringstream ss;
    ss << in.rdbuf();
    int n = 0;
    for (const auto& c : chunk_document(ss.str(), DocumentFormat::Markdown)) {
      const std::string id = e.path().string() + "#" + std::to_string(++n);
      sqlite3_bind_text(insert, 1, id.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(insert, 2, c.section.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(insert, 3, c.text.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_step(insert);
      sqlite3_reset(insert);
    }
  }
  sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  const double ms = bench::now_ms() - t0;
  sqlite3_finalize(insert);
  sqlite3_close(db);
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  const double megabytes = argc > 1 ? std::atof(argv[1]) : 100;

  // 1. The example corpus.
  std::vector<double> index_ms;
  CorpusStats stats;
  for (int i = 0; i < 9; ++i) {
    CorpusIndex index;
    const double t0 = bench::now_ms();
    stats = index.add_directory(kCorpus);
    index_ms.push_back(bench::now_ms() - t0);
  }
  std::printf("example corpus: %d documents, %d chunks, %.1f KB; index p50 %.2f ms (9 runs, max %.2f ms)\n",
              stats.documents, stats.chunks, double(stats.bytes) / 1024, bench::quantile(index_ms, 0.5),
              bench::quantile(index_ms, 1.0));

  // 2. Search on it, and the naive scan baseline.
  CorpusIndex index;
  index.add_directory(kCorpus);
  std::vector<CorpusChunk> chunks;
  for (int n = 1;; ++n) {
    bool any = false;
    for (const auto& e : fs::recursive_directory_iterator(kCorpus)) {
      if (!e.is_regular_file()) continue;
      if (auto c = index.chunk(e.path().lexically_relative(kCorpus).generic_string() + "#" + std::to_string(n))) {
        chunks.push_back(*c);
        any = true;
      }
    }
    if (!any) break;
  }
  const char* vocabulary[] = {"chlorine", "UV", "cost", "grant", "bus", "ridership", "library", "fines", "solar",
                              "school", "leak", "pipes", "ferry", "trees", "heat", "pumps", "drought", "board",
                              "electric", "range", "winter", "pool", "garden", "trail", "parking", "lead"};
  std::vector<std::string> queries;
  unsigned seed = 7;
  for (int q = 0; q < 200; ++q) {
    std::string query;
    for (int w = 0; w < 2 + q % 2; ++w) {
      seed = seed * 1103515245u + 12345u;
      query += std::string(w ? " " : "") + vocabulary[(seed >> 8) % 26];
    }
    queries.push_back(query);
  }
  std::vector<double> search_ms, scan_ms;
  size_t hits = 0, scanned = 0;
  for (const auto& q : queries) {
    double t0 = bench::now_ms();
    hits += index.search(q, 8).size();
    search_ms.push_back(bench::now_ms() - t0);
    t0 = bench::now_ms();
    std::istringstream words(lower(q));
    std::vector<std::string> terms{std::istream_iterator<std::string>(words), {}};
    for (const auto& c : chunks) {
      const std::string text = lower(c.section + " " + c.text);
      for (const auto& t : terms)
        if (text.find(t) != std::string::npos) {
          ++scanned;
          break;
        }
    }
    scan_ms.push_back(bench::now_ms() - t0);
  }
  const double search_p50 = bench::quantile(search_ms, 0.5), scan_p50 = bench::quantile(scan_ms, 0.5);
  std::printf("search (200 queries, top 8): p50 %.3f ms, p99 %.3f ms; naive scan p50 %.3f ms (ratio %.2fx); "
              "%zu hits, %zu scan matches\n",
              search_p50, bench::quantile(search_ms, 0.99), scan_p50, search_p50 / scan_p50, hits, scanned);

  // 3. A large generated corpus.
  const double g0 = bench::now_ms();
  const fs::path big = make_corpus(megabytes);
  const double generate_ms = bench::now_ms() - g0;
  const double floor_ms = plain_insert_ms(big);
  CorpusIndex large;
  const double t0 = bench::now_ms();
  const CorpusStats s = large.add_directory(big);
  const double large_ms = bench::now_ms() - t0;
  std::vector<double> large_search;
  for (const auto& q : {"kaka lomi", "renmi tusa", "\"sa ka\"", "velor", "nipa quedra", "emsol kalo"}) {
    const double q0 = bench::now_ms();
    large.search(q, 8);
    large_search.push_back(bench::now_ms() - q0);
  }
  std::printf("generated corpus: %d documents, %d chunks, %.1f MB (written in %.1f s)\n", s.documents, s.chunks,
              double(s.bytes) / 1048576, generate_ms / 1000);
  std::printf("  index %.1f s (%.1f MB/s); floor (read + chunk + plain insert) %.1f s; ratio %.2fx; "
              "search p50 %.2f ms\n",
              large_ms / 1000, double(s.bytes) / 1048576 / (large_ms / 1000), floor_ms / 1000, large_ms / floor_ms,
              bench::quantile(large_search, 0.5));
  std::error_code ec;
  fs::remove_all(big, ec);
  return 0;
}
