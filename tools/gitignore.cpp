#include "tools/gitignore.h"

#include <fstream>

#include "tools/glob.h"

namespace nagent {

void IgnoreRules::add_file(const std::filesystem::path& file, const std::string& base) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    // Trailing spaces are dropped unless escaped.
    while (!line.empty() && line.back() == ' ' && (line.size() < 2 || line[line.size() - 2] != '\\')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    Rule r;
    r.base = base;
    if (line[0] == '!') {
      r.negate = true;
      line.erase(0, 1);
    } else if (line[0] == '\\') {
      line.erase(0, 1);  // "\#file", "\!file"
    }
    if (!line.empty() && line.back() == '/') {
      r.dir_only = true;
      line.pop_back();
    }
    if (!line.empty() && line[0] == '/') {
      r.anchored = true;
      line.erase(0, 1);
    }
    if (line.find('/') != std::string::npos) r.anchored = true;
    if (line.empty()) continue;
    // glob_match matches a pattern with a '/' against the whole path, one without
    // against the last name: exactly gitignore's anchored / floating split, except for
    // a leading "/" which was removed above.
    r.pattern = r.anchored && line.find('/') == std::string::npos ? "./" + line : line;
    rules_.push_back(std::move(r));
  }
}

void IgnoreRules::add_chain(const std::filesystem::path& root, const std::filesystem::path& dir) {
  add_file(root / ".git" / "info" / "exclude", "");
  std::filesystem::path at = root;
  std::string rel;
  add_file(at / ".gitignore", rel);
  for (const auto& part : dir.lexically_relative(root)) {
    if (part == "." || part.empty()) continue;
    at /= part;
    rel = rel.empty() ? part.string() : rel + "/" + part.string();
    add_file(at / ".gitignore", rel);
  }
}

bool IgnoreRules::ignored(const std::string& relative_path, bool is_dir) const {
  for (auto it = rules_.rbegin(); it != rules_.rend(); ++it) {
    const Rule& r = *it;
    if (r.dir_only && !is_dir) continue;
    std::string_view sub = relative_path;
    if (!r.base.empty()) {
      if (sub.size() <= r.base.size() || sub.compare(0, r.base.size(), r.base) != 0 || sub[r.base.size()] != '/') continue;
      sub.remove_prefix(r.base.size() + 1);
    }
    if (glob_match(r.pattern, sub)) return !r.negate;
  }
  return false;
}

}  // namespace nagent
