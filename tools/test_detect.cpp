#include "tools/test_detect.h"

#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tools/ignored_dirs.h"

namespace nagent {

namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool present(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

std::optional<TestCommand> make_test(const fs::path& root) {
  // A rule line naming `test` among its targets: "test:", "test check: all", not "test := x".
  static const std::regex rule(R"((^|\n)([^\s:=#]+[ \t]+)*test([ \t]+[^\s:=#]+)*[ \t]*::?([^=]|$))");
  for (const char* name : {"GNUmakefile", "makefile", "Makefile"}) {
    if (!present(root / name)) continue;
    if (std::regex_search(slurp(root / name), rule)) return TestCommand{"make test", std::string(name) + " has a test target"};
    return std::nullopt;  // make reads only the first of these that exists
  }
  return std::nullopt;
}

std::optional<TestCommand> npm_test(const fs::path& root) {
  if (!present(root / "package.json")) return std::nullopt;
  auto pkg = nlohmann::json::parse(slurp(root / "package.json"), nullptr, false);
  if (pkg.is_discarded() || !pkg.is_object() || !pkg.contains("scripts") || !pkg["scripts"].is_object()) return std::nullopt;
  const auto& scripts = pkg["scripts"];
  if (!scripts.contains("test") || !scripts["test"].is_string()) return std::nullopt;
  if (scripts["test"].get<std::string>().find("no test specified") != std::string::npos) return std::nullopt;
  return TestCommand{"npm test", "package.json has scripts.test"};
}

std::optional<TestCommand> cmake_test(const fs::path& root) {
  if (!present(root / "CMakeLists.txt")) return std::nullopt;
  std::vector<fs::path> candidates = {root / "build", root / "out" / "build"};
  std::error_code ec;
  std::vector<fs::path> others;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    std::string n = it->path().filename().string();
    if (n.rfind("build-", 0) == 0 || n.rfind("cmake-build-", 0) == 0) others.push_back(it->path());
  }
  std::sort(others.begin(), others.end());
  candidates.insert(candidates.end(), others.begin(), others.end());
  for (const auto& dir : candidates) {
    if (!present(dir / "CMakeCache.txt")) continue;
    std::string rel = dir.lexically_relative(root).string();
    return TestCommand{"cmake --build " + rel + " && ctest --test-dir " + rel + " --output-on-failure",
                       "CMakeLists.txt with a configured build directory " + rel};
  }
  return std::nullopt;
}

bool is_test_file(const std::string& name) {
  auto ends = [&](const std::string& s) { return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0; };
  return ends(".py") && (name.rfind("test_", 0) == 0 || ends("_test.py"));
}

struct PythonTests {
  bool configured = false;  // pytest configuration present
  bool at_root = false;     // test files directly in the root
  std::string test_dir;     // else the top-level directory holding the first ones found
  bool only_suffix_names = true;  // every test file is *_test.py (unittest's default pattern misses them)
  bool any_files = false;
};

// Looks for test files down to a few levels (tests/unit/test_x.py), skipping dependency
// and build directories.
void scan_python(const fs::path& dir, int depth, const std::string& top, PythonTests& t) {
  std::error_code ec;
  std::vector<fs::directory_entry> entries;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) entries.push_back(*it);
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.path() < b.path(); });
  for (const auto& e : entries) {
    std::string name = e.path().filename().string();
    std::error_code ec2;
    if (e.is_directory(ec2) && !e.is_symlink(ec2)) {
      if (depth < 3 && !is_ignored_dir(name) && name[0] != '.') scan_python(e.path(), depth + 1, top.empty() ? name : top, t);
    } else if (is_test_file(name)) {
      t.any_files = true;
      if (name.rfind("test_", 0) == 0) t.only_suffix_names = false;
      if (top.empty()) {
        t.at_root = true;
      } else if (t.test_dir.empty()) {
        t.test_dir = top;
      }
    }
  }
}

std::optional<TestCommand> python_test(const fs::path& root, const std::function<bool()>& pytest_available) {
  PythonTests t;
  std::string why;
  if (present(root / "pytest.ini")) why = "pytest.ini";
  else if (present(root / "conftest.py")) why = "conftest.py";
  else if (present(root / "pyproject.toml") && slurp(root / "pyproject.toml").find("[tool.pytest") != std::string::npos) why = "pyproject.toml [tool.pytest]";
  else if (present(root / "setup.cfg") && slurp(root / "setup.cfg").find("[tool:pytest]") != std::string::npos) why = "setup.cfg [tool:pytest]";
  else if (present(root / "tox.ini") && slurp(root / "tox.ini").find("[pytest]") != std::string::npos) why = "tox.ini [pytest]";
  t.configured = !why.empty();
  scan_python(root, 0, "", t);
  if (!t.configured && !t.any_files) return std::nullopt;
  if (why.empty()) why = "Python test files";
  if (pytest_available()) return TestCommand{"python3 -m pytest -q", why + " (pytest)"};
  std::string cmd = "python3 -m unittest discover";
  // Discovery from the root only descends into packages; a tests/ without __init__.py
  // must be the start directory (the root stays importable: -m puts it on sys.path).
  if (!t.at_root && !t.test_dir.empty() && !present(root / t.test_dir / "__init__.py")) cmd += " -s " + t.test_dir;
  if (t.any_files && t.only_suffix_names) cmd += " -p '*_test.py'";
  return TestCommand{cmd, why + " (unittest; pytest is not installed)"};
}

}  // namespace

std::optional<TestCommand> detect_test_command(const fs::path& root, const std::function<bool()>& pytest_available) {
  if (auto t = make_test(root)) return t;
  if (auto t = npm_test(root)) return t;
  if (present(root / "Cargo.toml")) return TestCommand{"cargo test", "Cargo.toml"};
  if (present(root / "go.mod")) return TestCommand{"go test ./...", "go.mod"};
  if (auto t = cmake_test(root)) return t;
  return python_test(root, pytest_available);
}

}  // namespace nagent
