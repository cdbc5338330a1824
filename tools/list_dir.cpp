// list_dir: an indented tree of a directory, to a depth, without descending into version
// control, dependency or build directories (shown, marked, not expanded).
#include <sys/stat.h>

#include <algorithm>
#include <system_error>

#include "tools/builtin.h"
#include "tools/gitignore.h"
#include "tools/ignored_dirs.h"

namespace nagent {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxEntries = 400;     // shown
constexpr size_t kMaxVisited = 100000;  // counted beyond the shown ones, then we stop

struct Entry {
  std::string name;
  bool dir = false;
  bool link = false;
  std::string link_target;
};

std::vector<Entry> read_entries(const fs::path& dir, std::string& error) {
  std::vector<Entry> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    Entry e;
    e.name = it->path().filename().string();
    std::error_code ec2;
    e.link = it->is_symlink(ec2);
    if (e.link) {
      e.link_target = fs::read_symlink(it->path(), ec2).string();
    } else {
      e.dir = it->is_directory(ec2);
    }
    out.push_back(std::move(e));
  }
  if (ec) error = ec.message();
  // Directories first, then files, each alphabetically: the shape of the tree reads first.
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) {
    if (a.dir != b.dir) return a.dir;
    return a.name < b.name;
  });
  return out;
}

class Lister {
 public:
  Lister(size_t depth, const fs::path& root, const fs::path& start) : depth_(depth) { ignores_.add_chain(root, start); }

  // rel: dir relative to the workspace root ("" for the root); its .gitignore is loaded.
  void walk(const fs::path& dir, const std::string& rel, size_t level) {
    std::string error;
    auto entries = read_entries(dir, error);
    if (!error.empty()) line(level, "[cannot read: " + error + "]");
    for (const auto& e : entries) {
      if (visited_ >= kMaxVisited) return;
      if (e.link) {
        line(level, e.name + " -> " + e.link_target);
      } else if (!e.dir) {
        line(level, e.name);
      } else if (is_ignored_dir(e.name)) {
        line(level, e.name + "/  [not expanded]");
      } else if (ignores_.ignored(rel.empty() ? e.name : rel + "/" + e.name, true)) {
        line(level, e.name + "/  [gitignored, not expanded]");
      } else if (level + 1 >= depth_) {
        std::error_code ec;
        size_t n = 0;
        for (fs::directory_iterator it(dir / e.name, ec), end; !ec && it != end; it.increment(ec)) ++n;
        line(level, e.name + "/" + (n == 0 ? "  [empty]" : n == 1 ? "  [1 entry]" : "  [" + std::to_string(n) + " entries]"));
      } else if (std::error_code ec; fs::is_empty(dir / e.name, ec) && !ec) {
        line(level, e.name + "/  [empty]");
      } else {
        line(level, e.name + "/");
        const std::string child = rel.empty() ? e.name : rel + "/" + e.name;
        const size_t mark = ignores_.size();
        ignores_.add_file(dir / e.name / ".gitignore", child);
        walk(dir / e.name, child, level + 1);
        ignores_.truncate(mark);
      }
    }
  }

  std::string text() const { return out_; }
  size_t shown() const { return shown_; }
  size_t hidden() const { return visited_ - shown_; }
  bool stopped() const { return visited_ >= kMaxVisited; }

 private:
  void line(size_t level, const std::string& text) {
    ++visited_;
    if (shown_ >= kMaxEntries) return;
    ++shown_;
    out_.append((level + 1) * 2, ' ');
    out_ += text;
    out_ += '\n';
  }

  size_t depth_;
  IgnoreRules ignores_;
  std::string out_;
  size_t shown_ = 0, visited_ = 0;
};

class ListDirTool : public Tool {
 public:
  std::string name() const override { return "list_dir"; }
  std::string description() const override {
    return "List a directory of the workspace as an indented tree. Directories end with '/'; at the depth "
           "limit they show how many entries they hold; symlinks show their target. .git, node_modules, "
           "__pycache__, virtualenvs, build/dist/target directories and directories .gitignore excludes are "
           "shown but not expanded (pass one as path to list it). At most 400 entries are shown. "
           "Example: {\"path\": \"src\", \"depth\": 3}";
  }
  json parameters() const override {
    return {{"type", "object"},
            {"properties",
             {{"path", {{"type", "string"}, {"description", "Directory, relative to the workspace root; default: the root"}}},
              {"depth",
               {{"type", "integer"}, {"minimum", 1}, {"maximum", 20}, {"description", "Levels to show; default 2 (1: the entries of path only)"}}}}},
            {"additionalProperties", false}};
  }
  bool read_only() const override { return true; }

  ToolResult run(const json& args, ToolContext& ctx) const override {
    std::string path = args.contains("path") ? args["path"].get<std::string>() : ".";
    if (path.empty()) path = ".";
    const size_t depth = args.contains("depth") ? args["depth"].get<size_t>() : 2;
    fs::path abs;
    try {
      abs = ctx.workspace.resolve(path);
    } catch (const std::exception& e) {
      return tool_error(e.what());
    }
    const std::string shown = ctx.workspace.relative(abs);
    struct stat st;
    if (::stat(abs.c_str(), &st) != 0) return tool_error(shown + ": no such file or directory");
    if (!S_ISDIR(st.st_mode)) return tool_error(shown + " is a file, not a directory; use read_file to read it");
    Lister lister(depth, ctx.workspace.root(), abs);
    lister.walk(abs, abs == ctx.workspace.root() ? "" : shown, 0);
    ToolResult r;
    r.output = (shown == "." ? std::string("./") : shown + "/") + "\n";
    std::string body = lister.text();
    if (body.empty()) body = "(empty directory)\n";
    r.output += body;
    if (lister.hidden() > 0) {
      r.output += "[... " + std::to_string(lister.hidden()) + (lister.stopped() ? "+" : "") +
                  " more entries not shown; list a subdirectory or use a smaller depth]\n";
    }
    r.output.pop_back();
    r.data = {{"path", shown}, {"entries", lister.shown() + lister.hidden()}};
    return r;
  }
};

}  // namespace

std::shared_ptr<const Tool> make_list_dir_tool() { return std::make_shared<ListDirTool>(); }

}  // namespace nagent
