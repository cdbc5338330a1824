// bench_tools_edit: edit_file on a 20,000-line file (~0.9 MB). The baseline is a
// successful edit (find the unique match, write the file atomically, build the diff
// snippet); measured against it: the failed edit whose error lists the closest regions
// (whitespace-insensitive scan + per-line bigram ranking of every 10-line window), and
// apply_patch of a two-hunk patch to the same file.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <filesystem>
#include <fstream>
#include <string>

#include "bench/bench_util.h"
#include "sandbox/sandbox.h"
#include "tools/tool.h"
#include "tools/workspace.h"

namespace fs = std::filesystem;
using namespace nagent;

namespace {

std::string body_line(int i) {
  return "    total_" + std::to_string(i) + " = accumulate(values[" + std::to_string(i % 97) + "], weight=" +
         std::to_string(i % 13) + ")\n";
}

double median_ms(int runs, const std::function<void()>& fn) {
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    double t0 = bench::now_ms();
    fn();
    ms.push_back(bench::now_ms() - t0);
  }
  return bench::quantile(ms, 0.5);
}

}  // namespace

int main() {
  std::string tmpl = (fs::temp_directory_path() / "nagent-bench-edit-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) return 1;
  fs::path root = tmpl;
  std::string text;
  for (int i = 1; i <= 20000; ++i) text += body_line(i);
  std::ofstream(root / "big.py") << text;

  Workspace ws(root);
  auto runner = sandbox::make_plain_runner();
  ToolContext ctx{ws, *runner, "", 16 * 1024};
  ToolRegistry tools = builtin_tools();
  const Tool& edit = *tools.find("edit_file");
  const Tool& patch = *tools.find("apply_patch");

  // A 10-line region near the end, replaced back and forth so every run edits.
  std::string region, changed;
  for (int i = 15001; i <= 15010; ++i) region += body_line(i);
  changed = region;
  changed.replace(changed.find("accumulate"), 10, "accumulate_fast");
  bool flip = false;
  double ok_ms = median_ms(21, [&] {
    json args = {{"path", "big.py"}, {"old_str", flip ? changed : region}, {"new_str", flip ? region : changed}};
    flip = !flip;
    if (!edit.run(args, ctx).ok) std::abort();
  });

  // The same region with typos in two lines: no exact match, candidates ranked.
  std::string typo = region;
  typo.replace(typo.find("accumulate"), 10, "acumulate");
  typo.replace(typo.rfind("weight"), 6, "wieght");
  std::string first_candidate;
  double miss_ms = median_ms(21, [&] {
    ToolResult r = edit.run({{"path", "big.py"}, {"old_str", typo}, {"new_str", "x"}}, ctx);
    if (r.ok) std::abort();
    first_candidate = r.output.substr(r.output.find("lines "), 20);
  });

  // Two hunks, the second 10 lines off its stated position.
  auto hunk = [&](int at, int stated, bool undo) {
    std::string orig = body_line(at + 1), mod = orig;
    mod.replace(mod.find("weight="), 7, "weight2=");
    std::string h = "@@ -" + std::to_string(stated) + ",3 +" + std::to_string(stated) + ",3 @@\n";
    return h + " " + body_line(at) + "-" + (undo ? mod : orig) + "+" + (undo ? orig : mod) + " " + body_line(at + 2);
  };
  bool undo = false;
  double patch_ms = median_ms(21, [&] {
    std::string p = "--- a/big.py\n+++ b/big.py\n" + hunk(100, 100, undo) + hunk(18000, 17990, undo);
    undo = !undo;
    ToolResult r = patch.run({{"patch", p}}, ctx);
    if (!r.ok) {
      std::fprintf(stderr, "%s\n", r.output.c_str());
      std::abort();
    }
  });

  std::printf("file: 20000 lines, %.0f KB; median of 21 runs\n", text.size() / 1024.0);
  std::printf("%-48s %9.2f ms  1.00x (baseline)\n", "edit_file, unique match (write + diff)", ok_ms);
  std::printf("%-48s %9.2f ms  %.2fx   best: %s\n", "edit_file, no match (closest-region search)", miss_ms, miss_ms / ok_ms,
              first_candidate.c_str());
  std::printf("%-48s %9.2f ms  %.2fx\n", "apply_patch, 2 hunks (one 10 lines off)", patch_ms, patch_ms / ok_ms);
  fs::remove_all(root);
  return 0;
}
