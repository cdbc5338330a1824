// edit_file: replace one exact, unique occurrence of old_str. Exactness keeps edits
// predictable; when old_str is absent or ambiguous the error carries what the model needs
// for the next attempt (closest regions with their real text, or every match's line).
#include <algorithm>
#include <regex>

#include "tools/builtin.h"
#include "tools/edit_candidates.h"
#include "tools/text_file.h"

namespace nagent {

namespace {

constexpr size_t kSnippetLines = 12;  // per side of the diff snippet / per candidate
constexpr size_t kContextLines = 2;
constexpr size_t kMaxListedMatches = 20;

size_t line_at(std::string_view text, size_t pos) {
  return 1 + static_cast<size_t>(std::count(text.begin(), text.begin() + static_cast<ptrdiff_t>(pos), '\n'));
}

// "-" / "+" / " " lines with numbers, cut after kSnippetLines.
void append_lines(std::string& out, const std::vector<std::string_view>& lines, size_t first, size_t count,
                  size_t number, std::string_view marker) {
  for (size_t k = 0; k < count && k < kSnippetLines; ++k) out += text_file::numbered_line(number + k, lines[first + k], marker);
  if (count > kSnippetLines) out += std::string(marker) + "  ... (" + std::to_string(count - kSnippetLines) + " more lines)\n";
}

bool has_read_file_numbers(std::string_view old_str) {
  static const std::regex numbered(R"(^\s*\d+\t)");
  bool any = false;
  for (auto line : text_file::split_lines(old_str)) {
    if (line.empty()) continue;
    if (!std::regex_search(line.begin(), line.end(), numbered)) return false;
    any = true;
  }
  return any;
}

class EditFileTool : public Tool {
 public:
  std::string name() const override { return "edit_file"; }
  std::string description() const override {
    return "Replace text in a file: old_str must occur exactly once in the file, character for "
           "character (indentation and blank lines included; no line numbers from read_file). "
           "Include enough surrounding lines to make it unique, or give line: the line number where "
           "old_str starts, which picks one of several exact matches. new_str replaces it (empty deletes "
           "it). If old_str is not found, the error shows the closest regions of the file; if it "
           "occurs several times, the error lists their lines. The file's permissions and line "
           "endings (CRLF or LF) are kept. Use write_file to create files. "
           "Example: {\"path\": \"app.py\", \"old_str\": \"def area(r):\\n    return 3.14 * r\\n\", "
           "\"new_str\": \"def area(r):\\n    return math.pi * r * r\\n\"}";
  }
  json parameters() const override {
    return {{"type", "object"},
            {"properties",
             {{"path", {{"type", "string"}, {"description", "File path, relative to the workspace root"}}},
              {"old_str", {{"type", "string"}, {"description", "Exact text to replace; must occur exactly once"}}},
              {"new_str", {{"type", "string"}, {"description", "Replacement text"}}},
              {"line",
               {{"type", "integer"},
                {"description", "Optional: the line where old_str starts (as read_file numbers it); "
                                "chooses among several exact matches, never edits text that differs"}}}}},
            {"required", {"path", "old_str", "new_str"}},
            {"additionalProperties", false}};
  }
  bool read_only() const override { return false; }

  ToolResult run(const json& args, ToolContext& ctx) const override {
    const std::string path = args["path"].get<std::string>();
    std::string old_str = args["old_str"].get<std::string>();
    std::string new_str = args["new_str"].get<std::string>();
    if (old_str.empty()) return tool_error("old_str is empty; give the exact text to replace (use write_file to create a file)");
    if (old_str == new_str) return tool_error("old_str and new_str are the same; nothing would change");
    std::filesystem::path abs;
    std::string shown, data;
    try {
      abs = ctx.workspace.resolve(path);
      shown = ctx.workspace.relative(abs);
      data = text_file::read(abs, shown);
    } catch (const std::exception& e) {
      return tool_error(e.what());
    }
    if (text_file::looks_binary(data)) return tool_error(shown + " looks like a binary file; edit_file edits text files only");
    // Models write "\n"; a CRLF file keeps its convention.
    if (text_file::uses_crlf(data) && old_str.find('\r') == std::string::npos) {
      old_str = text_file::to_crlf(old_str);
      new_str = text_file::to_crlf(new_str);
    }

    std::vector<size_t> matches;
    for (size_t pos = data.find(old_str); pos != std::string::npos; pos = data.find(old_str, pos + 1)) {
      matches.push_back(pos);
    }
    if (matches.empty()) return not_found(shown, data, old_str);
    // The line hint only chooses among exact matches: an edit never lands on text that differs
    // from old_str, and a unique match is taken wherever it is.
    if (matches.size() > 1 && args.contains("line")) {
      const auto line = args["line"].get<int64_t>();
      std::vector<size_t> on_line;
      for (size_t m : matches)
        if (static_cast<int64_t>(line_at(data, m)) == line) on_line.push_back(m);
      if (on_line.size() == 1) matches = on_line;
    }
    if (matches.size() > 1) {
      std::string lines;
      for (size_t i = 0; i < matches.size() && i < kMaxListedMatches; ++i) {
        lines += (i ? ", " : "") + std::to_string(line_at(data, matches[i]));
      }
      if (matches.size() > kMaxListedMatches) lines += ", ...";
      const std::string hint = args.contains("line")
                                   ? "; none of them (or more than one) starts at line " +
                                         std::to_string(args["line"].get<int64_t>())
                                   : "";
      return tool_error("old_str occurs " + std::to_string(matches.size()) + " times in " + shown + " (starting at lines " +
                        lines + ")" + hint +
                        "; include more surrounding lines in old_str, or give line, so that it matches exactly one place");
    }

    const size_t pos = matches[0];
    std::string updated = data.substr(0, pos) + new_str + data.substr(pos + old_str.size());
    try {
      text_file::write_atomic(abs, updated, shown);
    } catch (const std::exception& e) {
      return tool_error(e.what());
    }
    ToolResult r;
    r.output = snippet(shown, data, updated);
    r.data = {{"path", shown}, {"line", line_at(data, pos)}};
    return r;
  }

 private:
  ToolResult not_found(const std::string& shown, const std::string& data, const std::string& old_str) const {
    std::string msg = "old_str was not found in " + shown + ".";
    if (has_read_file_numbers(old_str)) {
      msg += " It seems to include read_file's line numbers (\"  12<TAB>\"); they are not part of the file, leave them out.";
    }
    auto candidates = find_edit_candidates(data, old_str);
    if (candidates.empty()) {
      msg += " No similar region was found; read the file again (read_file) and copy the text exactly.";
      return tool_error(msg);
    }
    msg += " Closest regions (copy the text from here exactly, without the line numbers):\n";
    auto lines = text_file::split_lines(data);
    for (const auto& c : candidates) {
      msg += "lines " + std::to_string(c.first_line) + "-" + std::to_string(c.last_line) + " (" + c.reason + "):\n";
      append_lines(msg, lines, c.first_line - 1, c.last_line - c.first_line + 1, c.first_line, "");
    }
    if (!msg.empty() && msg.back() == '\n') msg.pop_back();
    return tool_error(msg);
  }

  // The edited lines as "-" (old numbering) and "+" (new numbering) with a little context.
  // Only one region changed, so stripping the lines both versions share at the start and
  // at the end leaves exactly that region, whether the match covered whole lines or not.
  static std::string snippet(const std::string& shown, const std::string& before, const std::string& after) {
    auto old_lines = text_file::split_lines(before);
    auto new_lines = text_file::split_lines(after);
    size_t prefix = 0;
    while (prefix < old_lines.size() && prefix < new_lines.size() && old_lines[prefix] == new_lines[prefix]) ++prefix;
    size_t suffix = 0;
    while (suffix < old_lines.size() - prefix && suffix < new_lines.size() - prefix &&
           old_lines[old_lines.size() - 1 - suffix] == new_lines[new_lines.size() - 1 - suffix]) {
      ++suffix;
    }
    const size_t removed = old_lines.size() - prefix - suffix;
    const size_t added = new_lines.size() - prefix - suffix;
    const size_t first = prefix + 1;  // 1-based
    std::string out = "Edited " + shown + " at line " + std::to_string(first) + ": -" + std::to_string(removed) + " +" +
                      std::to_string(added) + " lines\n";
    const size_t ctx_start = first > kContextLines ? first - kContextLines : 1;
    append_lines(out, new_lines, ctx_start - 1, first - ctx_start, ctx_start, " ");
    append_lines(out, old_lines, prefix, removed, first, "-");
    append_lines(out, new_lines, prefix, added, first, "+");
    const size_t after_first = first + added;  // 1-based, in the new file
    const size_t ctx_count = std::min(kContextLines, new_lines.size() - prefix - added);
    append_lines(out, new_lines, after_first - 1, ctx_count, after_first, " ");
    if (!after.empty() && after.back() != '\n' && before.back() == '\n') {
      out += "(the file no longer ends with a newline)\n";
    }
    out.pop_back();
    return out;
  }
};

}  // namespace

std::shared_ptr<const Tool> make_edit_file_tool() { return std::make_shared<EditFileTool>(); }

}  // namespace nagent
