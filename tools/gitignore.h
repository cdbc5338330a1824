// .gitignore rules, so search skips what the repository itself declares generated or
// vendored (coverage/, *.min.js, a differently named virtualenv) the way git and ripgrep
// do. Supported: comments, blank lines, "!" negation, trailing "/" (directories only),
// patterns anchored by a "/" (relative to their .gitignore's directory) or matched
// against the name at any depth, * ? [..] **; the last matching rule wins.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace nagent {

class IgnoreRules {
 public:
  // Adds the rules of a .gitignore-format file; `base` is the workspace-relative directory
  // its patterns are relative to ("" for the root). A missing file adds nothing.
  void add_file(const std::filesystem::path& file, const std::string& base);
  // The rules that apply inside `dir` (under the workspace `root`): .git/info/exclude and
  // every .gitignore from the root down to dir itself.
  void add_chain(const std::filesystem::path& root, const std::filesystem::path& dir);
  bool ignored(const std::string& relative_path, bool is_dir) const;
  // Rules are added as a walk enters directories and dropped as it leaves them.
  size_t size() const { return rules_.size(); }
  void truncate(size_t n) { rules_.resize(n); }

 private:
  struct Rule {
    std::string base;     // "" or "dir/sub"
    std::string pattern;  // without "!", leading "/" and trailing "/"
    bool negate = false;
    bool dir_only = false;
    bool anchored = false;  // contains a '/': matched against the whole path below base
  };
  std::vector<Rule> rules_;
};

}  // namespace nagent
