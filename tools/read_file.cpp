// read_file: numbered lines of a text file, whole or a 1-based inclusive range. Output
// stops at a line boundary when the model's output budget is spent and says where to
// continue, which beats a head+tail cut for reading code.
#include <cstdio>
#include <system_error>

#include "tools/builtin.h"
#include "tools/text_file.h"

namespace nagent {

namespace {

constexpr size_t kMaxLineChars = 2000;  // longer lines (minified code, data) are shortened
constexpr uintmax_t kMaxFileBytes = 256u << 20;  // the whole file is loaded to number its lines

class ReadFileTool : public Tool {
 public:
  std::string name() const override { return "read_file"; }
  std::string description() const override {
    return "Read a text file of the workspace. Returns its lines numbered like `cat -n` "
           "(line number, tab, text); the numbers are not part of the file, so leave them out "
           "of edit_file's old_str. Use start_line/end_line (1-based, inclusive) to read part of "
           "a large file: a long output stops at a line boundary and tells you the start_line "
           "to continue from. Lines longer than 2000 characters are shortened. Binary files and "
           "directories are refused (use list_dir for directories). "
           "Example: {\"path\": \"src/main.py\", \"start_line\": 40, \"end_line\": 80}";
  }
  json parameters() const override {
    return {{"type", "object"},
            {"properties",
             {{"path", {{"type", "string"}, {"description", "File path, relative to the workspace root"}}},
              {"start_line", {{"type", "integer"}, {"minimum", 1}, {"description", "First line to show (1-based); default 1"}}},
              {"end_line", {{"type", "integer"}, {"minimum", 1}, {"description", "Last line to show (inclusive); default: end of file"}}}}},
            {"required", {"path"}},
            {"additionalProperties", false}};
  }
  bool read_only() const override { return true; }

  ToolResult run(const json& args, ToolContext& ctx) const override {
    const std::string path = args["path"].get<std::string>();
    std::string data;
    std::string shown_path;
    try {
      auto abs = ctx.workspace.resolve(path);
      shown_path = ctx.workspace.relative(abs);
      std::error_code ec;
      const auto size = std::filesystem::file_size(abs, ec);
      if (!ec && size > kMaxFileBytes) {
        return tool_error(shown_path + " is " + std::to_string(size >> 20) +
                          " MiB, too large to load; look at parts of it with shell (e.g. `sed -n '100,200p' " + shown_path +
                          "`, `tail -n 50 " + shown_path + "`) or find lines with search");
      }
      data = text_file::read(abs, shown_path);
    } catch (const std::exception& e) {
      std::string msg = e.what();
      if (msg.size() > 15 && msg.compare(msg.size() - 15, 15, " is a directory") == 0) msg += "; use list_dir to see its entries";
      return tool_error(msg);
    }
    if (text_file::looks_binary(data)) {
      return tool_error(shown_path + " looks like a binary file (" + std::to_string(data.size()) +
                        " bytes, NUL bytes in its first 8 KiB); read_file shows text files only. "
                        "Use shell (e.g. `xxd " + shown_path + " | head`) to inspect it.");
    }
    auto lines = text_file::split_lines(data);
    const size_t total = lines.size();
    if (total == 0) {
      ToolResult r;
      r.output = "(" + shown_path + " is empty)";
      r.data = {{"lines", 0}};
      return r;
    }
    size_t start = args.contains("start_line") ? args["start_line"].get<size_t>() : 1;
    size_t end = args.contains("end_line") ? args["end_line"].get<size_t>() : total;
    if (start > total) {
      return tool_error("start_line " + std::to_string(start) + " is past the end of " + shown_path + ", which has " +
                        std::to_string(total) + " line" + (total == 1 ? "" : "s"));
    }
    if (end < start) {
      return tool_error("end_line " + std::to_string(end) + " is before start_line " + std::to_string(start));
    }
    std::string notes;
    if (end > total) {
      notes += "[end_line " + std::to_string(end) + " is past the end; " + shown_path + " has " + std::to_string(total) +
               " lines]\n";
      end = total;
    }

    std::string out;
    const uint64_t budget = ctx.output_limit_bytes;
    size_t shortened = 0;
    size_t last = start - 1;
    char num[32];
    for (size_t i = start; i <= end; ++i) {
      std::string_view text = lines[i - 1];
      if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
      std::string line;
      int n = std::snprintf(num, sizeof num, "%6zu\t", i);
      line.append(num, static_cast<size_t>(n));
      if (text.size() > kMaxLineChars) {
        size_t cut = kMaxLineChars;
        while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
        line.append(text.substr(0, cut));
        line += " [... line shortened, " + std::to_string(text.size()) + " chars]";
        ++shortened;
      } else {
        line.append(text);
      }
      line += '\n';
      if (out.size() + line.size() > budget && i > start) break;
      out += line;
      last = i;
    }
    if (last < end) {
      notes += "[showing lines " + std::to_string(start) + "-" + std::to_string(last) + " of " + std::to_string(total) +
               " (output limit reached); continue with start_line=" + std::to_string(last + 1) + "]\n";
    } else if (start > 1 || end < total) {
      notes += "[lines " + std::to_string(start) + "-" + std::to_string(end) + " of " + std::to_string(total) + "]\n";
    }
    if (!data.empty() && data.back() != '\n' && last == total) notes += "[no newline at end of file]\n";
    ToolResult r;
    r.output = out + notes;
    if (!r.output.empty() && r.output.back() == '\n') r.output.pop_back();
    r.data = {{"path", shown_path}, {"lines", total}, {"start_line", start}, {"end_line", last}};
    return r;
  }
};

}  // namespace

std::shared_ptr<const Tool> make_read_file_tool() { return std::make_shared<ReadFileTool>(); }

}  // namespace nagent
