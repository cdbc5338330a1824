#include "tools/unified_diff.h"

#include <cstdlib>
#include <regex>

#include "tools/text_file.h"

namespace nagent {

namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// Git quotes unusual names C-style: "a/tab\there" -> a/tab<TAB>here.
std::string unquote(std::string_view s) {
  if (s.size() < 2 || s.front() != '"' || s.back() != '"') return std::string(s);
  std::string out;
  for (size_t i = 1; i + 1 < s.size(); ++i) {
    char c = s[i];
    if (c != '\\' || i + 2 >= s.size()) {
      out += c;
      continue;
    }
    char e = s[++i];
    switch (e) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'v': out += '\v'; break;
      default:
        if (e >= '0' && e <= '7' && i + 2 < s.size()) {  // \ooo: one byte of UTF-8
          out += static_cast<char>(std::strtol(std::string(s.substr(i, 3)).c_str(), nullptr, 8));
          i += 2;
        } else {
          out += e;
        }
    }
  }
  return out;
}

// The name on a ---/+++ line: without a trailing "\t<timestamp>", unquoted; "" for /dev/null.
std::string header_path(std::string_view rest) {
  if (!rest.empty() && rest.back() == '\r') rest.remove_suffix(1);
  if (rest.empty() || rest.front() != '"') {
    size_t tab = rest.find('\t');
    if (tab != std::string_view::npos) rest = rest.substr(0, tab);
    while (!rest.empty() && rest.back() == ' ') rest.remove_suffix(1);
  }
  std::string p = unquote(rest);
  return p == "/dev/null" ? "" : p;
}

std::string strip_prefix(const std::string& p, char side) {
  if (p.size() > 2 && p[0] == side && p[1] == '/') return p.substr(2);
  return p;
}

// "diff --git a/x b/x": the names as the fallback when no ---/+++ lines follow (pure
// renames, mode changes, empty files). Equal names (the common case) split in the middle.
void parse_git_header(std::string_view rest, FilePatch& fp) {
  if (!rest.empty() && rest.back() == '\r') rest.remove_suffix(1);
  std::string a, b;
  if (!rest.empty() && rest.front() == '"') {
    size_t end = 1;
    while (end < rest.size() && (rest[end] != '"' || rest[end - 1] == '\\')) ++end;
    a = unquote(rest.substr(0, end + 1));
    b = unquote(rest.substr(std::min(rest.size(), end + 2)));
  } else if (rest.size() % 2 == 1 && rest.substr(0, rest.size() / 2).substr(2) == rest.substr(rest.size() / 2 + 1).substr(2)) {
    a = std::string(rest.substr(0, rest.size() / 2));
    b = std::string(rest.substr(rest.size() / 2 + 1));
  } else {
    size_t sp = rest.find(" b/");
    if (sp == std::string_view::npos) return;
    a = std::string(rest.substr(0, sp));
    b = unquote(rest.substr(sp + 1));
  }
  fp.old_path = strip_prefix(a, 'a');
  fp.new_path = strip_prefix(b, 'b');
}

std::optional<mode_t> parse_mode(std::string_view s) {
  std::string digits(s);
  while (!digits.empty() && (digits.back() == '\r' || digits.back() == ' ')) digits.pop_back();
  char* end = nullptr;
  long v = std::strtol(digits.c_str(), &end, 8);
  if (digits.empty() || *end != '\0') return std::nullopt;
  return static_cast<mode_t>(v & 07777);
}

class Parser {
 public:
  explicit Parser(std::string_view patch) : lines_(text_file::split_lines(patch)) {}

  std::vector<FilePatch> parse() {
    std::vector<FilePatch> files;
    while (i_ < lines_.size()) {
      std::string_view l = lines_[i_];
      if (starts_with(l, "diff --git ")) {
        files.push_back(git_section());
      } else if (starts_with(l, "--- ") && i_ + 1 < lines_.size() && starts_with(lines_[i_ + 1], "+++ ")) {
        FilePatch fp;
        file_names(fp, /*git=*/false);
        hunks(fp);
        files.push_back(std::move(fp));
      } else if (starts_with(l, "@@ ")) {
        throw PatchError("patch line " + std::to_string(i_ + 1) +
                         ": hunk header without a file header before it (expected '--- a/path' and '+++ b/path' lines)");
      } else {
        ++i_;  // commit message, fence, blank line
      }
    }
    if (files.empty()) {
      throw PatchError("no file sections found; a patch needs '--- a/path' and '+++ b/path' lines followed by @@ hunks");
    }
    return files;
  }

 private:
  std::string where() const { return "patch line " + std::to_string(i_ + 1) + ": "; }

  FilePatch git_section() {
    FilePatch fp;
    parse_git_header(lines_[i_].substr(11), fp);
    ++i_;
    bool created = false, deleted = false;
    for (; i_ < lines_.size(); ++i_) {
      std::string_view l = lines_[i_];
      if (starts_with(l, "new file mode ")) {
        created = true;
        fp.new_mode = parse_mode(l.substr(14));
      } else if (starts_with(l, "deleted file mode ")) {
        deleted = true;
      } else if (starts_with(l, "new mode ")) {
        fp.new_mode = parse_mode(l.substr(9));
      } else if (starts_with(l, "rename from ")) {
        fp.rename = true;
        fp.old_path = header_path(l.substr(12));
      } else if (starts_with(l, "rename to ")) {
        fp.rename = true;
        fp.new_path = header_path(l.substr(10));
      } else if (starts_with(l, "copy from ") || starts_with(l, "copy to ")) {
        throw PatchError(where() + "copies are not supported; write the new file as a created file (--- /dev/null)");
      } else if (starts_with(l, "GIT binary patch") || starts_with(l, "Binary files ")) {
        throw PatchError(where() + "binary patches are not supported (" + fp.new_path + ")");
      } else if (!(starts_with(l, "old mode ") || starts_with(l, "index ") || starts_with(l, "similarity index ") ||
                   starts_with(l, "dissimilarity index "))) {
        break;
      }
    }
    if (i_ + 1 < lines_.size() && starts_with(lines_[i_], "--- ") && starts_with(lines_[i_ + 1], "+++ ")) {
      file_names(fp, /*git=*/true);
    }
    if (created) fp.old_path.clear();
    if (deleted) fp.new_path.clear();
    hunks(fp);
    return fp;
  }

  void file_names(FilePatch& fp, bool git) {
    std::string old_p = header_path(lines_[i_].substr(4));
    std::string new_p = header_path(lines_[i_ + 1].substr(4));
    i_ += 2;
    // Strip a/ b/ when the diff is git's, or when both sides carry them (diff -u of two
    // trees named a and b, or a model imitating git).
    bool prefixed = git || ((old_p.empty() || starts_with(old_p, "a/")) && (new_p.empty() || starts_with(new_p, "b/")) &&
                            !(old_p.empty() && new_p.empty()));
    if (prefixed) {
      old_p = strip_prefix(old_p, 'a');
      new_p = strip_prefix(new_p, 'b');
    }
    fp.old_path = old_p;
    fp.new_path = new_p;
    if (fp.old_path.empty() && fp.new_path.empty()) {
      throw PatchError("patch line " + std::to_string(i_ - 1) + ": both file names are /dev/null");
    }
  }

  void hunks(FilePatch& fp) {
    static const std::regex header(R"(^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@.*)");
    while (i_ < lines_.size() && starts_with(lines_[i_], "@@")) {
      std::string h(lines_[i_]);
      if (!h.empty() && h.back() == '\r') h.pop_back();
      std::smatch m;
      if (!std::regex_match(h, m, header)) {
        throw PatchError(where() + "malformed hunk header '" + h + "' (expected '@@ -OLD_START,OLD_COUNT +NEW_START,NEW_COUNT @@')");
      }
      Hunk hunk;
      hunk.old_start = std::stoul(m[1]);
      hunk.old_count = m[2].matched ? std::stoul(m[2]) : 1;
      hunk.new_start = std::stoul(m[3]);
      hunk.new_count = m[4].matched ? std::stoul(m[4]) : 1;
      size_t close = h.find("@@", 2);
      hunk.header = h.substr(0, close + 2);
      ++i_;
      body(hunk);
      fp.hunks.push_back(std::move(hunk));
    }
  }

  // Is line i the start of the next file section?
  bool file_header_at(size_t i) const {
    std::string_view l = lines_[i];
    return starts_with(l, "diff --git ") ||
           (starts_with(l, "--- ") && i + 1 < lines_.size() && starts_with(lines_[i + 1], "+++ "));
  }

  void body(Hunk& hunk) {
    size_t old_seen = 0, new_seen = 0;
    size_t blank_tail = 0;  // trailing lines that were empty in the patch, not " "
    for (; i_ < lines_.size(); ++i_) {
      std::string_view l = lines_[i_];
      const bool satisfied = old_seen >= hunk.old_count && new_seen >= hunk.new_count;
      if (starts_with(l, "\\")) {  // "\ No newline at end of file" (wording varies by locale)
        if (hunk.lines.empty()) continue;
        char prev = hunk.lines.back().kind;
        if (prev != '+') hunk.old_no_newline = true;
        if (prev != '-') hunk.new_no_newline = true;
        continue;
      }
      if (starts_with(l, "@@") || starts_with(l, "diff --git ")) break;
      // "--- x" + "+++ y" is also what removing "-- x" and adding "++ y" looks like: while
      // the counts still expect lines it is content, unless an @@ line follows it.
      if (file_header_at(i_) && (satisfied || (i_ + 2 < lines_.size() && starts_with(lines_[i_ + 2], "@@")))) break;
      char kind = l.empty() ? ' ' : l[0];
      if (kind != ' ' && kind != '-' && kind != '+') break;
      // Past the stated counts a correct diff has no more hunk lines, so only lines that
      // look like hunk lines (never a blank one) extend a miscounted hunk. "-- " is the
      // signature separator `git format-patch` appends.
      if (satisfied && (l.empty() || l == "-- " || l == "-- \r")) break;
      hunk.lines.push_back({kind, std::string(l.empty() ? l : l.substr(1))});
      blank_tail = l.empty() ? blank_tail + 1 : 0;
      if (kind != '+') ++old_seen;
      if (kind != '-') ++new_seen;
    }
    // An empty line is an empty context line whose space an editor stripped, unless the
    // hunk's counts say it is a separator after the hunk (miscounted hunks end at one).
    const bool exact = old_seen == hunk.old_count && new_seen == hunk.new_count;
    while (!exact && blank_tail > 0) {
      hunk.lines.pop_back();
      --blank_tail;
    }
  }

  std::vector<std::string_view> lines_;
  size_t i_ = 0;
};

}  // namespace

std::vector<FilePatch> parse_unified_diff(std::string_view patch) { return Parser(patch).parse(); }

}  // namespace nagent
