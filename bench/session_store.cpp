// Session store append latency with durability on (one committed transaction per event),
// against the floor for a durable append on this disk: write() + fdatasync() of the same
// bytes to a plain file. Also the store's size against the raw event text.
//
//   build/bench/bench_session_store [events=2000]
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "agent/session_store.h"
#include "bench_util.h"

using namespace nagent;

namespace {

// A tool result of a realistic size and shape (1-3 KB of output text).
json sample_event(std::mt19937& rng, int i) {
  std::string output;
  int lines = 20 + int(rng() % 40);
  for (int l = 0; l < lines; ++l) output += "    " + std::to_string(i * 100 + l) + "\tdef f_" + std::to_string(rng() % 1000) + "(x): return x * 2\n";
  return {{"op", 1}, {"step", i}, {"call_id", "call_0123456789abcdef01234567"}, {"name", "read_file"}, {"ok", true},
          {"exit_code", 0}, {"output", output}, {"duration_ms", 0.4}};
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 2000;
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("nagent-bench-store-" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::mt19937 rng(42);
  std::vector<json> events;
  size_t raw_bytes = 0;
  for (int i = 0; i < n; ++i) {
    events.push_back(sample_event(rng, i));
    raw_bytes += events.back().dump().size();
  }

  // Floor: append the same bytes to a file, fdatasync after each.
  std::vector<double> floor_ms;
  {
    int fd = open((dir / "plain.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    for (const auto& e : events) {
      std::string line = e.dump() + "\n";
      double t0 = bench::now_ms();
      if (write(fd, line.data(), line.size()) < 0 || fdatasync(fd) != 0) return 1;
      floor_ms.push_back(bench::now_ms() - t0);
    }
    close(fd);
  }

  auto run = [&](SessionStore::Durability d, const char* file, std::vector<double>& ms) {
    SessionStore store((dir / file).string(), d);
    store.create_session({"bench", 0, 0, "", "", "", "", 0});
    for (const auto& e : events) {
      double t0 = bench::now_ms();
      store.append("bench", "tool_result", e);
      ms.push_back(bench::now_ms() - t0);
    }
  };
  std::vector<double> full_ms, normal_ms;
  run(SessionStore::Durability::Full, "full.db", full_ms);
  run(SessionStore::Durability::Normal, "normal.db", normal_ms);

  // Size: the database (checkpointed into the main file) against the raw JSON text.
  uintmax_t db_bytes = 0;
  {
    SessionStore store((dir / "full.db").string());
  }
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().filename().string().rfind("full.db", 0) == 0) db_bytes += entry.file_size();

  const double floor_p50 = bench::quantile(floor_ms, 0.5);
  std::printf("session store append, %d events of ~%zu bytes\n", n, raw_bytes / size_t(n));
  std::printf("%-34s %9s %9s %9s\n", "", "p50 ms", "p99 ms", "x floor");
  auto row = [&](const char* name, std::vector<double>& ms) {
    double p50 = bench::quantile(ms, 0.5), p99 = bench::quantile(ms, 0.99);
    std::printf("%-34s %9.3f %9.3f %9.2f\n", name, p50, p99, p50 / floor_p50);
  };
  row("floor: write + fdatasync", floor_ms);
  row("store, durability full (fsync)", full_ms);
  row("store, durability normal (WAL)", normal_ms);
  std::printf("store size / raw event text: %.2f (%ju / %zu bytes)\n", double(db_bytes) / double(raw_bytes), db_bytes,
              raw_bytes);
  fs::remove_all(dir);
  return 0;
}
