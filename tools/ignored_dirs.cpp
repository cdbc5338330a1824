#include "tools/ignored_dirs.h"

namespace nagent {

bool is_ignored_dir(std::string_view name) {
  static constexpr std::string_view exact[] = {
      ".git", ".hg", ".svn", "node_modules", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache",
      ".tox", ".venv", "venv", ".eggs", "target", "build", "dist", "CMakeFiles", ".gradle", ".idea", ".cache",
      ".next"};
  for (auto e : exact) {
    if (name == e) return true;
  }
  auto starts = [&](std::string_view p) { return name.substr(0, p.size()) == p; };
  auto ends = [&](std::string_view s) { return name.size() >= s.size() && name.substr(name.size() - s.size()) == s; };
  return starts("build-") || starts("cmake-build-") || ends(".egg-info");
}

}  // namespace nagent
