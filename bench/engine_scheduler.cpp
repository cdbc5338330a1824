// Aggregate generation throughput of K concurrent conversations through the embedded engine's
// scheduler (engine/scheduler.h: one decode_batch call per step for all K) against the same K
// requests served one after another, K = 1, 2, 4 (or --k LIST). Each conversation has its own
// random prompt; greedy, no stop tokens, so every request generates exactly --gen tokens.
// Tokens/s counts generated tokens over wall time (prompt prefill included).
//
//   bench_engine_scheduler [--model DIR] [--threads N] [--prompt N] [--gen N] [--reps R] [--k 1,2,4]
// Without --model it runs the nano test fixture (tests/fixtures/nemotronh/nano_fp32).
#include <algorithm>
#include <cstdio>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "engine/nemotronh.h"
#include "engine/scheduler.h"

using namespace nagent::engine;

namespace {

std::vector<ScheduledRequest> requests(int k, int64_t prompt, int64_t gen, uint32_t seed, int64_t vocab) {
  std::mt19937 rng(seed);
  std::vector<ScheduledRequest> rs(static_cast<size_t>(k));
  for (auto& r : rs) {
    r.prompt.resize(static_cast<size_t>(prompt));
    for (auto& t : r.prompt) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
    r.options.max_tokens = gen;
  }
  return rs;
}

// Seconds to serve rs, one after another or all at once (one thread each).
double serve(Scheduler& s, const std::vector<ScheduledRequest>& rs, bool concurrent) {
  const double t0 = bench::now_ms();
  if (concurrent) {
    std::vector<std::thread> ts;
    for (const auto& r : rs) ts.emplace_back([&s, &r] { s.generate(r); });
    for (auto& t : ts) t.join();
  } else {
    for (const auto& r : rs) s.generate(r);
  }
  return (bench::now_ms() - t0) / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_dir = std::string(NAGENT_BENCH_SOURCE_DIR) + "/tests/fixtures/nemotronh/nano_fp32";
  int threads = 0, reps = 5;
  int64_t prompt = 64, gen = 128;
  std::vector<int> ks = {1, 2, 4};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_engine_scheduler: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--model") model_dir = next();
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--prompt") prompt = std::stoll(next());
    else if (a == "--gen") gen = std::stoll(next());
    else if (a == "--reps") reps = std::stoi(next());
    else if (a == "--k") {
      ks.clear();
      std::stringstream ss(next());
      for (std::string item; std::getline(ss, item, ',');) ks.push_back(std::stoi(item));
    } else {
      std::fprintf(stderr,
                   "usage: bench_engine_scheduler [--model DIR] [--threads N] [--prompt N] [--gen N] [--reps R] "
                   "[--k 1,2,4]\n");
      return 2;
    }
  }
  EngineOptions opts;
  opts.threads = threads;
  auto model = NemotronH::load(model_dir, opts);
  const int64_t V = model->config().vocab_size;
  std::printf("model %s (%s), prompt %lld, gen %lld, %d reps\n", model_dir.c_str(), model->device_description().c_str(),
              static_cast<long long>(prompt), static_cast<long long>(gen), reps);
  std::printf("%3s  %-26s  %-26s  %-15s  %s\n", "K", "one after another tok/s", "concurrent tok/s", "ratio (median)",
              "largest decode_batch");
  uint32_t seed = 1;
  for (int k : ks) {
    std::vector<double> serial, together, ratio;
    int64_t max_batch = 0;
    for (int rep = 0; rep < reps; ++rep) {
      // A fresh scheduler and fresh prompts each time: nothing is served from the pool.
      Scheduler a(*model, nullptr), b(*model, nullptr);
      const double ts = serve(a, requests(k, prompt, gen, seed++, V), false);
      const double tc = serve(b, requests(k, prompt, gen, seed++, V), true);
      serial.push_back(k * gen / ts);
      together.push_back(k * gen / tc);
      ratio.push_back(ts / tc);
      max_batch = std::max(max_batch, b.stats().max_batch);
    }
    auto range = [](std::vector<double> v) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.0f (%.0f..%.0f)", bench::quantile(v, 0.5), bench::quantile(v, 0.0),
                    bench::quantile(v, 1.0));
      return std::string(buf);
    };
    std::printf("%3d  %-26s  %-26s  %-15s  %lld\n", k, range(serial).c_str(), range(together).c_str(),
                (std::to_string(bench::quantile(ratio, 0.5)).substr(0, 4) + "x").c_str(), static_cast<long long>(max_batch));
  }
  return 0;
}
