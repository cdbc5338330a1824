// apply_patch: applies a unified diff to the workspace, all of it or nothing. Every file
// is patched in memory first; only when every hunk of every file applied are the results
// staged to temporary files and renamed into place.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>

#include "tools/builtin.h"
#include "tools/text_file.h"
#include "tools/unified_diff.h"

namespace nagent {

namespace fs = std::filesystem;

namespace {

// A file as the patch sees it while being applied: lines without '\n'.
struct FileState {
  bool exists = false;
  std::vector<std::string> lines;
  bool final_newline = true;
  std::optional<mode_t> mode;  // to set when written; nullopt keeps the current one
  bool touched = false;        // written or deleted by the patch
  std::string shown;           // workspace-relative name
};

std::string strip_cr(std::string_view s) {
  if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
  return std::string(s);
}

// Exact, except that a missing or extra '\r' at the end (a CRLF file patched with an
// LF diff, or the reverse) is not a content difference.
bool same_line(const std::string& file, const std::string& patch) {
  return file == patch || strip_cr(file) == strip_cr(patch);
}

std::string quote_line(const std::string& s) {
  std::string t = strip_cr(s);
  if (t.size() > 200) t = t.substr(0, 200) + "...";
  return "`" + t + "`";
}

class Applier {
 public:
  explicit Applier(Workspace& ws) : ws_(ws) {}

  // Throws PatchError / PathError with the message for the model.
  void apply(const FilePatch& fp) {
    std::string label = fp.deleted() ? fp.old_path : fp.new_path;
    if (fp.created()) {
      FileState& f = state(fp.new_path);
      if (f.exists) throw PatchError(f.shown + ": the patch creates it (--- /dev/null) but it already exists");
      f.exists = true;
      f.lines.clear();
      f.final_newline = true;
      apply_hunks(f, fp, label);
      f.mode = fp.new_mode;
      f.touched = true;
      summary_ += "  A " + f.shown + counts(fp) + "\n";
      return;
    }
    // `diff -u file.orig file` names two files for one change: patch the one that exists,
    // preferring the new name (what GNU patch does too).
    std::string source = fp.old_path;
    if (!fp.rename && !fp.deleted() && fp.new_path != fp.old_path && state(fp.new_path).exists) source = fp.new_path;
    FileState& src = state(source);
    if (!src.exists) throw PatchError(src.shown + ": no such file (the patch modifies or deletes it)");
    if (fp.deleted()) {
      apply_hunks(src, fp, label);
      if (!src.lines.empty()) {
        throw PatchError(src.shown + ": the patch deletes it, but " + std::to_string(src.lines.size()) +
                         " of its lines are not in the patch's removed lines (starting with " + quote_line(src.lines[0]) + ")");
      }
      src.exists = false;
      src.touched = true;
      summary_ += "  D " + src.shown + counts(fp) + "\n";
      return;
    }
    apply_hunks(src, fp, label);
    if (fp.new_mode) src.mode = fp.new_mode;
    src.touched = true;
    if (fp.rename && fp.new_path != fp.old_path) {
      FileState moved = src;
      FileState& dst = state(fp.new_path);
      if (dst.exists) throw PatchError(dst.shown + ": the patch renames " + src.shown + " to it, but it already exists");
      moved.shown = dst.shown;
      dst = std::move(moved);
      if (!dst.mode) dst.mode = current_mode(ws_.resolve(fp.old_path));
      src.exists = false;
      summary_ += "  R " + src.shown + " -> " + dst.shown + counts(fp) + "\n";
      return;
    }
    summary_ += "  M " + src.shown + counts(fp) + "\n";
  }

  // Stages every result, then puts them all in place; nothing is renamed before every
  // staged write succeeded.
  void write() {
    std::vector<fs::path> made_dirs;
    std::vector<text_file::StagedFile> staged;
    std::vector<fs::path> removals;
    try {
      for (auto& [abs, f] : files_) {
        if (!f.touched) continue;
        if (!f.exists) {
          removals.push_back(abs);
          continue;
        }
        make_parents(abs.parent_path(), made_dirs);
        std::string content;
        for (size_t i = 0; i < f.lines.size(); ++i) {
          content += f.lines[i];
          if (i + 1 < f.lines.size() || f.final_newline) content += '\n';
        }
        staged.emplace_back(abs, content, f.shown, f.mode);
      }
    } catch (...) {
      staged.clear();
      for (auto it = made_dirs.rbegin(); it != made_dirs.rend(); ++it) ::rmdir(it->c_str());
      throw;
    }
    for (auto& s : staged) s.commit();
    for (const auto& p : removals) {
      if (::unlink(p.c_str()) != 0 && errno != ENOENT) {
        throw PatchError("cannot delete " + ws_.relative(p) + ": " + std::strerror(errno));
      }
    }
  }

  std::string summary() const { return summary_; }
  std::string notes() const { return notes_; }

 private:
  FileState& state(const std::string& path) {
    fs::path abs = ws_.resolve(path);
    auto it = files_.find(abs);
    if (it != files_.end()) return it->second;
    FileState f;
    f.shown = ws_.relative(abs);
    if (abs == ws_.root()) throw PatchError("'" + path + "' is the workspace root, not a file");
    struct stat st;
    if (::stat(abs.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) throw PatchError(f.shown + " is a directory");
      std::string data = text_file::read(abs, f.shown);
      if (text_file::looks_binary(data)) throw PatchError(f.shown + " is a binary file; apply_patch patches text files only");
      f.exists = true;
      for (auto l : text_file::split_lines(data)) f.lines.emplace_back(l);
      f.final_newline = data.empty() || data.back() == '\n';
    }
    return files_.emplace(abs, std::move(f)).first->second;
  }

  static std::optional<mode_t> current_mode(const fs::path& p) {
    struct stat st;
    if (::stat(p.c_str(), &st) != 0) return std::nullopt;
    return st.st_mode & 07777;
  }

  void make_parents(const fs::path& dir, std::vector<fs::path>& made) {
    if (dir == ws_.root() || fs::exists(dir)) return;
    make_parents(dir.parent_path(), made);
    if (::mkdir(dir.c_str(), 0777) != 0 && errno != EEXIST) {
      throw PatchError("cannot create directory " + ws_.relative(dir) + ": " + std::strerror(errno));
    }
    made.push_back(dir);
  }

  static std::string counts(const FilePatch& fp) {
    size_t add = 0, del = 0;
    for (const auto& h : fp.hunks) {
      for (const auto& l : h.lines) {
        add += l.kind == '+';
        del += l.kind == '-';
      }
    }
    return " (+" + std::to_string(add) + " -" + std::to_string(del) + ")";
  }

  bool matches_at(const FileState& f, const std::vector<const std::string*>& old, size_t pos) const {
    if (pos + old.size() > f.lines.size()) return false;
    for (size_t k = 0; k < old.size(); ++k) {
      if (!same_line(f.lines[pos + k], *old[k])) return false;
    }
    return true;
  }

  void apply_hunks(FileState& f, const FilePatch& fp, const std::string& label) {
    long drift = 0;       // how far the previous hunk was from its stated place
    long shift = 0;       // lines added minus removed by earlier hunks of this file
    size_t floor = 0;     // hunks apply in order and do not overlap
    for (size_t h = 0; h < fp.hunks.size(); ++h) {
      const Hunk& hunk = fp.hunks[h];
      std::vector<const std::string*> old;
      std::vector<std::string> added;
      for (const auto& l : hunk.lines) {
        if (l.kind != '+') old.push_back(&l.text);
        if (l.kind != '-') added.push_back(l.text);
      }
      // A count of 0 means "after line old_start"; otherwise the hunk starts at it.
      long stated = static_cast<long>(hunk.old_count == 0 || hunk.old_start == 0 ? hunk.old_start : hunk.old_start - 1);
      long expect = std::max<long>(static_cast<long>(floor), stated + shift + drift);
      std::optional<size_t> pos;
      if (old.empty()) {
        if (static_cast<size_t>(expect) <= f.lines.size()) pos = static_cast<size_t>(expect);
      } else {
        // Nearest position first, either side of where the header says.
        const long last = static_cast<long>(f.lines.size()) - static_cast<long>(old.size());
        for (long d = 0; !pos && (expect - d >= static_cast<long>(floor) || expect + d <= last); ++d) {
          if (expect + d <= last && expect + d >= static_cast<long>(floor) && matches_at(f, old, static_cast<size_t>(expect + d))) {
            pos = static_cast<size_t>(expect + d);
          } else if (d > 0 && expect - d >= static_cast<long>(floor) && expect - d <= last &&
                     matches_at(f, old, static_cast<size_t>(expect - d))) {
            pos = static_cast<size_t>(expect - d);
          }
        }
      }
      if (!pos) throw PatchError(mismatch(f, fp, h, old, static_cast<size_t>(expect), floor, label));

      if (*pos != static_cast<size_t>(stated + shift)) {
        long off = static_cast<long>(*pos) - (stated + shift);
        notes_ += "  " + f.shown + " hunk " + std::to_string(h + 1) + " applied at offset " + (off > 0 ? "+" : "") +
                  std::to_string(off) + " lines\n";
      }
      // Keep the file's line-ending convention for the lines the patch adds.
      const bool crlf = !f.lines.empty() && std::all_of(f.lines.begin(), f.lines.end(), [](const std::string& s) {
        return !s.empty() && s.back() == '\r';
      });
      for (auto& a : added) {
        if (crlf && (a.empty() || a.back() != '\r')) a += '\r';
      }
      const bool at_end = *pos + old.size() == f.lines.size();
      f.lines.erase(f.lines.begin() + static_cast<long>(*pos), f.lines.begin() + static_cast<long>(*pos + old.size()));
      f.lines.insert(f.lines.begin() + static_cast<long>(*pos), added.begin(), added.end());
      if (at_end) {
        if (hunk.new_no_newline) {
          f.final_newline = false;
        } else if (hunk.old_no_newline || !added.empty()) {
          f.final_newline = true;
        }
      }
      drift = static_cast<long>(*pos) - (stated + shift);
      shift += static_cast<long>(added.size()) - static_cast<long>(old.size());
      floor = *pos + added.size();
    }
  }

  // Why a hunk did not apply: the place whose lines agree longest with the hunk's old
  // lines (nearest the stated place on ties), and the first line that differs there.
  std::string mismatch(const FileState& f, const FilePatch& fp, size_t h, const std::vector<const std::string*>& old,
                       size_t expect, size_t floor, const std::string& label) const {
    const Hunk& hunk = fp.hunks[h];
    std::string head = label + ", hunk " + std::to_string(h + 1) + " of " + std::to_string(fp.hunks.size()) + " (" +
                       hunk.header + "): ";
    if (old.empty()) {
      return head + "it inserts after line " + std::to_string(expect) + " but the file has only " +
             std::to_string(f.lines.size()) + " lines";
    }
    size_t best_pos = std::min(expect, f.lines.size()), best_len = 0;
    long best_dist = -1;
    for (size_t p = floor; p < f.lines.size(); ++p) {
      size_t k = 0;
      while (k < old.size() && p + k < f.lines.size() && same_line(f.lines[p + k], *old[k])) ++k;
      long dist = std::labs(static_cast<long>(p) - static_cast<long>(expect));
      if (k > best_len || (k == best_len && k > 0 && dist < best_dist)) {
        best_len = k;
        best_pos = p;
        best_dist = dist;
      }
    }
    if (best_len == 0) best_pos = std::min(expect, f.lines.size());
    const size_t line = best_pos + best_len;  // 0-based index of the differing line
    std::string msg = head + "its context/removed lines do not match the file. ";
    if (line >= f.lines.size()) {
      msg += "At line " + std::to_string(line + 1) + " the patch expects " + quote_line(*old[best_len]) + " but " +
             f.shown + " has only " + std::to_string(f.lines.size()) + " lines";
    } else {
      msg += "Line " + std::to_string(line + 1) + " of " + f.shown + " is " + quote_line(f.lines[line]) +
             " but the patch expects " + quote_line(*old[best_len]);
      if (best_len > 0) msg += " (the hunk's " + std::to_string(best_len) + " lines before it match from line " + std::to_string(best_pos + 1) + ")";
    }
    return msg + ". Re-read the file and regenerate the hunk from its current content.";
  }

  Workspace& ws_;
  std::map<fs::path, FileState> files_;
  std::string summary_, notes_;
};

class ApplyPatchTool : public Tool {
 public:
  std::string name() const override { return "apply_patch"; }
  std::string description() const override {
    return "Apply a unified diff (the format `git diff` prints) to the workspace. One patch may change "
           "several files with several hunks each; create a file with `--- /dev/null`, delete one with "
           "`+++ /dev/null`; `\\ No newline at end of file` and git renames are understood. Either every "
           "hunk of every file applies or nothing is changed. Context and removed lines must match the "
           "file exactly; a hunk whose @@ line numbers are off is found nearby, and miscounted @@ line "
           "counts are tolerated. Errors name the file, the hunk and the first line that differs. "
           "Example: {\"patch\": \"--- a/src/app.py\\n+++ b/src/app.py\\n@@ -1,3 +1,3 @@\\n import os\\n"
           "-print('hi')\\n+print('hello')\\n x = 1\\n\"}";
  }
  json parameters() const override {
    return {{"type", "object"},
            {"properties", {{"patch", {{"type", "string"}, {"description", "The unified diff text"}}}}},
            {"required", {"patch"}},
            {"additionalProperties", false}};
  }
  bool read_only() const override { return false; }

  ToolResult run(const json& args, ToolContext& ctx) const override {
    const std::string patch = args["patch"].get<std::string>();
    Applier applier(ctx.workspace);
    size_t file_count = 0;
    try {
      auto files = parse_unified_diff(patch);
      file_count = files.size();
      for (const auto& fp : files) applier.apply(fp);
      applier.write();
    } catch (const std::exception& e) {
      return tool_error(std::string("apply_patch failed; no file was changed.\n") + e.what());
    }
    ToolResult r;
    r.output = "Applied patch to " + std::to_string(file_count) + " file" + (file_count == 1 ? "" : "s") + ":\n" +
               applier.summary() + applier.notes();
    r.output.pop_back();
    r.data = {{"files", file_count}};
    return r;
  }
};

}  // namespace

std::shared_ptr<const Tool> make_apply_patch_tool() { return std::make_shared<ApplyPatchTool>(); }

}  // namespace nagent
