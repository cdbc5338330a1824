// Runs wrk with bench/serve_webhook.lua and reads the summary line the script prints; shared
// by the serve webhook benchmark and the bounded load test (tests/serve_load_test.cpp).
#pragma once

#include <cstdio>
#include <filesystem>
#include <regex>
#include <string>

namespace bench {

struct WrkSummary {
  long requests = 0, non_2xx = 0, socket_errors = 0;
  double duration_s = 0, p50_ms = 0, p99_ms = 0;
  std::string output;  // everything wrk printed
  bool ok() const { return duration_s > 0; }
  double requests_per_s() const { return duration_s > 0 ? double(requests) / duration_s : 0; }
};

// args: wrk's options and the URL, e.g. "-t2 -c16 -d10s http://127.0.0.1:8080/hooks/github".
inline WrkSummary run_wrk(const std::string& args) {
  const auto script = std::filesystem::path(__FILE__).parent_path() / "serve_webhook.lua";
  WrkSummary s;
  FILE* p = popen(("wrk -s '" + script.string() + "' " + args + " 2>&1").c_str(), "r");
  if (!p) return s;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) s.output.append(buf, n);
  pclose(p);
  std::smatch m;
  static const std::regex line(
      R"(NAGENT_WRK requests=(\d+) duration_us=(\d+) non2xx=(\d+) socket_errors=(\d+) p50_us=(\d+) p99_us=(\d+))");
  if (!std::regex_search(s.output, m, line)) return s;
  s.requests = std::stol(m[1]);
  s.duration_s = std::stod(m[2]) / 1e6;
  s.non_2xx = std::stol(m[3]);
  s.socket_errors = std::stol(m[4]);
  s.p50_ms = std::stod(m[5]) / 1000;
  s.p99_ms = std::stod(m[6]) / 1000;
  return s;
}

}  // namespace bench
