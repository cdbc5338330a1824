// search: regex search over the workspace's text files, reporting `path:line: text`.
// The pattern runs over each file's whole buffer (one JIT call finds the next match
// however far away), and line numbers are counted only up to each match.
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <system_error>

#include "tools/builtin.h"
#include "tools/gitignore.h"
#include "tools/glob.h"
#include "tools/ignored_dirs.h"
#include "tools/regex.h"
#include "tools/text_file.h"

namespace nagent {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxShownMatches = 200;
constexpr size_t kMaxCountedMatches = 100000;  // beyond it the total is reported as "more than"
constexpr uint64_t kMaxFileBytes = 4u << 20;   // bigger files are skipped (logs, data dumps)
constexpr size_t kMaxLineChars = 300;

bool utf8_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

struct Stats {
  size_t files_searched = 0, files_matched = 0, matches = 0;
  size_t shown = 0, files_shown = 0;
  size_t binary = 0, huge = 0;
  bool counting_stopped = false;
};

class Searcher {
 public:
  Searcher(Regex& re, const Workspace& ws, std::string glob, uint64_t budget)
      : re_(re), ws_(ws), glob_(std::move(glob)), budget_(budget) {}

  void load_ignores(const fs::path& dir) { ignores_.add_chain(ws_.root(), dir); }

  // rel: dir relative to the workspace root ("" for the root); its own .gitignore was loaded.
  void walk(const fs::path& dir, const std::string& rel) {
    std::error_code ec;
    std::vector<fs::directory_entry> entries;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) entries.push_back(*it);
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.path() < b.path(); });
    for (const auto& e : entries) {
      if (stats_.counting_stopped) return;
      std::error_code ec2;
      if (e.is_symlink(ec2)) continue;  // not followed: no loops, no way out of the workspace
      const std::string name = e.path().filename().string();
      const std::string child = rel.empty() ? name : rel + "/" + name;
      if (e.is_directory(ec2)) {
        if (is_ignored_dir(name) || ignores_.ignored(child, true)) continue;
        const size_t mark = ignores_.size();
        ignores_.add_file(e.path() / ".gitignore", child);
        walk(e.path(), child);
        ignores_.truncate(mark);
      } else if (e.is_regular_file(ec2) && !ignores_.ignored(child, false)) {
        file(e.path(), child);
      }
    }
  }

  void file(const fs::path& abs, const std::string& rel) {
    if (!glob_.empty() && !glob_match(glob_, rel)) return;
    struct stat st;
    if (::stat(abs.c_str(), &st) != 0) return;
    if (static_cast<uint64_t>(st.st_size) > kMaxFileBytes) {
      ++stats_.huge;
      return;
    }
    std::string data;
    try {
      data = text_file::read(abs, abs.string());
    } catch (const std::exception&) {
      return;  // unreadable (permissions, vanished): not the model's concern
    }
    if (text_file::looks_binary(data)) {
      ++stats_.binary;
      return;
    }
    ++stats_.files_searched;
    size_t line = 1, counted_to = 0;
    bool matched_file = false, shown_file = false;
    for (size_t pos = 0; pos <= data.size();) {
      size_t m = re_.find(data, pos);
      if (m == std::string_view::npos) break;
      line += static_cast<size_t>(std::count(data.begin() + static_cast<long>(counted_to), data.begin() + static_cast<long>(m), '\n'));
      counted_to = m;
      size_t start = 0;
      if (m > 0) {
        size_t nl = data.rfind('\n', m - 1);
        start = nl == std::string::npos ? 0 : nl + 1;
      }
      size_t end = data.find('\n', m);
      if (end == std::string::npos) end = data.size();
      ++stats_.matches;
      matched_file = true;
      if (stats_.shown < kMaxShownMatches && out_.size() < budget_) {
        std::string_view text(data.data() + start, end - start);
        if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
        std::string row = rel + ":" + std::to_string(line) + ": ";
        if (text.size() > kMaxLineChars) {
          // A long line (minified code, data) is shown as a window that holds the match.
          const size_t col = m - start;
          size_t from = col > kMaxLineChars / 2 ? col - kMaxLineChars / 3 : 0;
          while (from > 0 && utf8_continuation(text[from])) --from;
          size_t to = std::min(text.size(), from + kMaxLineChars);
          while (to > from && to < text.size() && utf8_continuation(text[to])) --to;
          if (from > 0) row += "[...] ";
          row.append(text.substr(from, to - from));
          if (to < text.size()) row += " [...]";
        } else {
          row.append(text);
        }
        row += '\n';
        if (out_.size() + row.size() <= budget_) {
          out_ += row;
          ++stats_.shown;
          shown_file = true;
        } else {
          budget_ = out_.size();  // full: later rows are only counted
        }
      }
      if (stats_.matches >= kMaxCountedMatches) {
        stats_.counting_stopped = true;
        break;
      }
      pos = end + 1;  // one result per line
    }
    if (matched_file) ++stats_.files_matched;
    if (shown_file) ++stats_.files_shown;
  }

  const std::string& text() const { return out_; }
  const Stats& stats() const { return stats_; }

 private:
  Regex& re_;
  const Workspace& ws_;
  std::string glob_;
  uint64_t budget_;
  IgnoreRules ignores_;
  std::string out_;
  Stats stats_;
};

std::string plural(size_t n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}
std::string files(size_t n) { return plural(n, "file", "files"); }
std::string matches(size_t n) { return plural(n, "match", "matches"); }

class SearchTool : public Tool {
 public:
  std::string name() const override { return "search"; }
  std::string description() const override {
    return "Search the workspace's text files for a regular expression (PCRE2/Perl syntax; ^ and $ match at "
           "line boundaries; (?i) makes it case-insensitive). Prints one `path:line: text` row per matching "
           "line, up to 200 rows, then how many more matches were left out. Skips .git, node_modules, build "
           "and other dependency/output directories, what .gitignore files exclude, symlinks, binary files "
           "and files over 4 MiB. Optional "
           "path limits the search to a directory or file; optional glob filters files by name (`*.py`, "
           "`*.{c,h}`) or, with a '/', by path (`src/**/test_*.cpp`). "
           "Example: {\"pattern\": \"def (load|save)_config\", \"glob\": \"*.py\"}";
  }
  json parameters() const override {
    return {{"type", "object"},
            {"properties",
             {{"pattern", {{"type", "string"}, {"description", "PCRE2 regular expression"}}},
              {"path", {{"type", "string"}, {"description", "Directory or file to search; default: the workspace root"}}},
              {"glob", {{"type", "string"}, {"description", "Only files matching this glob, e.g. *.py or src/**/*.ts"}}}}},
            {"required", {"pattern"}},
            {"additionalProperties", false}};
  }
  bool read_only() const override { return true; }

  ToolResult run(const json& args, ToolContext& ctx) const override {
    const std::string pattern = args["pattern"].get<std::string>();
    std::string path = args.contains("path") ? args["path"].get<std::string>() : ".";
    if (path.empty()) path = ".";
    const std::string glob = args.contains("glob") ? args["glob"].get<std::string>() : "";
    if (pattern.empty()) return tool_error("pattern is empty");
    try {
      Regex re(pattern);
      fs::path abs = ctx.workspace.resolve(path);
      struct stat st;
      if (::stat(abs.c_str(), &st) != 0) return tool_error(path + ": no such file or directory");
      Searcher s(re, ctx.workspace, glob, ctx.output_limit_bytes);
      const std::string rel = abs == ctx.workspace.root() ? "" : ctx.workspace.relative(abs);
      if (S_ISDIR(st.st_mode)) {
        s.load_ignores(abs);
        s.walk(abs, rel);
      } else {
        s.file(abs, rel);  // named explicitly: searched even if ignored
      }
      const Stats& st_ = s.stats();
      ToolResult r;
      r.data = {{"matches", st_.matches}, {"files", st_.files_matched}};
      std::string where = ctx.workspace.relative(abs);
      if (st_.matches == 0) {
        r.output = "No matches for /" + pattern + "/ in " + where + (glob.empty() ? "" : " (glob " + glob + ")") + "; searched " +
                   files(st_.files_searched) + ".";
      } else {
        r.output = s.text();
        if (st_.shown < st_.matches) {
          r.output += "[... " + std::string(st_.counting_stopped ? "more than " : "") + plural(st_.matches - st_.shown, "more match", "more matches") +
                      " omitted (" + matches(st_.matches) + " in " + files(st_.files_matched) +
                      " in all); narrow the pattern, path or glob]\n";
        } else {
          r.output += "[" + matches(st_.matches) + " in " + files(st_.files_matched) + "]\n";
        }
      }
      if (st_.huge > 0) r.output += "[skipped " + files(st_.huge) + " over 4 MiB]\n";
      if (!r.output.empty() && r.output.back() == '\n') r.output.pop_back();
      return r;
    } catch (const std::exception& e) {
      return tool_error(e.what());
    }
  }
};

}  // namespace

std::shared_ptr<const Tool> make_search_tool() { return std::make_shared<SearchTool>(); }

}  // namespace nagent
