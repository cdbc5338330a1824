// bench_tools_search: the search tool over a generated source tree (40 directories x 50
// files x 200 lines, ~16 MB, plus a node_modules tree both sides skip), against
// `grep -rnE` on the same tree and pattern (baseline, same run), and against std::regex
// line by line (what a naive in-process search costs). Match counts must agree.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "bench/bench_util.h"
#include "sandbox/sandbox.h"
#include "tools/tool.h"
#include "tools/workspace.h"

namespace fs = std::filesystem;
using namespace nagent;

namespace {

fs::path make_tree() {
  std::string tmpl = (fs::temp_directory_path() / "nagent-bench-search-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp");
  fs::path root = tmpl;
  unsigned seed = 12345;
  auto rnd = [&] { return seed = seed * 1103515245u + 12345u, (seed >> 8) % 1000; };
  for (const char* top : {"src", "node_modules"}) {
    int dirs = std::string(top) == "src" ? 40 : 5;
    for (int d = 0; d < dirs; ++d) {
      fs::path dir = root / top / ("pkg" + std::to_string(d));
      fs::create_directories(dir);
      for (int f = 0; f < 50; ++f) {
        std::ofstream out(dir / ("mod" + std::to_string(f) + ".py"));
        for (int l = 0; l < 200; ++l) {
          unsigned r = rnd();
          if (r == 7) out << "def load_config(path):\n";
          else if (r == 8) out << "def save_config(cfg, path):\n";
          else out << "    value_" << l << " = compute(" << r << ", " << rnd() << ")  # step " << l << "\n";
        }
      }
    }
  }
  return root;
}


std::pair<double, size_t> time_grep(const fs::path& root, const std::string& ere) {
  std::vector<double> ms;
  size_t n = 0;
  for (int i = 0; i < 5; ++i) {
    std::string cmd = "cd '" + root.string() + "' && LC_ALL=C grep -rnE --exclude-dir=node_modules --exclude-dir=.git '" + ere + "' . | wc -l";
    double t0 = bench::now_ms();
    FILE* p = ::popen(cmd.c_str(), "r");
    char buf[64] = {0};
    if (!std::fgets(buf, sizeof buf, p)) buf[0] = 0;
    ::pclose(p);
    ms.push_back(bench::now_ms() - t0);
    n = std::strtoul(buf, nullptr, 10);
  }
  return {bench::quantile(ms, 0.5), n};
}

std::pair<double, size_t> time_tool(const Tool& search, ToolContext& ctx, const std::string& pattern) {
  std::vector<double> ms;
  size_t n = 0;
  for (int i = 0; i < 5; ++i) {
    double t0 = bench::now_ms();
    ToolResult r = search.run({{"pattern", pattern}}, ctx);
    ms.push_back(bench::now_ms() - t0);
    n = r.data["matches"].get<size_t>();
  }
  return {bench::quantile(ms, 0.5), n};
}

std::pair<double, size_t> time_std_regex(const fs::path& root, const std::string& ecma) {
  std::regex re(ecma);
  size_t n = 0;
  double t0 = bench::now_ms();
  for (const auto& e : fs::recursive_directory_iterator(root / "src")) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path());
    std::string line;
    while (std::getline(in, line)) n += std::regex_search(line, re);
  }
  return {bench::now_ms() - t0, n};
}

}  // namespace

int main() {
  fs::path root = make_tree();
  Workspace ws(root);
  auto runner = sandbox::make_plain_runner();
  ToolContext ctx{ws, *runner, "", 16 * 1024};
  ToolRegistry tools = builtin_tools();
  const Tool& search = *tools.find("search");

  struct Case {
    const char* what;
    std::string pattern;  // PCRE2 and ERE alike
  } cases[] = {
      {"rare alternation", R"(def (load|save)_config\()"},
      {"frequent (4k lines)", R"(compute\(99[0-9], )"},
      {"no match", R"(no_such_[a-z]+_symbol)"},
  };
  std::printf("tree: %s (2000 searched files, ~16 MB; node_modules skipped)\n", root.c_str());
  std::printf("%-22s %12s %12s %10s %14s %10s\n", "pattern", "search ms", "grep -rnE ms", "grep/ours", "std::regex ms", "std/ours");
  for (const auto& c : cases) {
    auto [ours, n_ours] = time_tool(search, ctx, c.pattern);
    auto [grep, n_grep] = time_grep(root, c.pattern);
    auto [stdre, n_std] = time_std_regex(root, c.pattern);
    std::printf("%-22s %12.1f %12.1f %9.2fx %14.1f %9.1fx   matches %zu/%zu/%zu%s\n", c.what, ours, grep, grep / ours, stdre,
                stdre / ours, n_ours, n_grep, n_std, (n_ours == n_grep && n_grep == n_std) ? "" : "  MISMATCH");
  }
  fs::remove_all(root);
  return 0;
}
