#include "support/temp_repo.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "support/child_process.h"

namespace fs = std::filesystem;

TempDir::TempDir(const std::string& tag) {
  std::string pattern = (fs::temp_directory_path() / ("nagent-" + tag + ".XXXXXX")).string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void make_example_repo(const std::string& name, const fs::path& dir) {
  fs::copy(fs::path(NAGENT_SOURCE_DIR) / "examples" / name, dir, fs::copy_options::recursive);
  auto git = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {"/usr/bin/git", "-C", dir.string(), "-c", "user.name=test",
                                     "-c", "user.email=test@localhost"};
    argv.insert(argv.end(), args.begin(), args.end());
    ChildResult r = run_child(argv);
    if (r.exit_code != 0) throw std::runtime_error("git failed: " + r.err);
  };
  git({"init", "-q"});
  git({"add", "-A"});
  git({"commit", "-qm", "example"});
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}
