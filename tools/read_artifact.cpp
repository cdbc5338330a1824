// read_artifact: lines of a stored tool output (an artifact), whole or a 1-based inclusive
// range, exactly as the tool printed them. When an output was too long for the context the
// model saw its head and tail and this handle; this is how it reads the rest.
#include "tools/builtin.h"
#include "tools/text_file.h"

namespace nagent {

namespace {

class ReadArtifactTool : public Tool {
 public:
  std::string name() const override { return "read_artifact"; }
  std::string description() const override {
    return "Read lines of a stored tool output (an artifact). Long tool outputs are shown as their head and tail "
           "plus a handle like art_0123456789abcdef; pass that id to read the lines you need, exactly as the tool "
           "printed them (not numbered). start_line/end_line are 1-based and inclusive; a long range stops at a "
           "line boundary and says the start_line to continue from. Use search_artifact to find line numbers. "
           "Example: {\"id\": \"art_0123456789abcdef\", \"start_line\": 200, \"end_line\": 260}";
  }
  json parameters() const override {
    return {{"type", "object"},
            {"properties",
             {{"id", {{"type", "string"}, {"description", "The artifact's handle, e.g. art_0123456789abcdef"}}},
              {"start_line", {{"type", "integer"}, {"minimum", 1}, {"description", "First line (1-based); default 1"}}},
              {"end_line", {{"type", "integer"}, {"minimum", 1}, {"description", "Last line (inclusive); default: the last"}}}}},
            {"required", {"id"}},
            {"additionalProperties", false}};
  }
  bool read_only() const override { return true; }

  ToolResult run(const json& args, ToolContext& ctx) const override {
    const std::string id = args["id"].get<std::string>();
    std::optional<std::string> text = ctx.artifacts ? ctx.artifacts->artifact_text(id) : std::nullopt;
    if (!text) return tool_error("no artifact '" + id + "' in this session (handles look like art_0123456789abcdef)");
    const auto lines = text_file::split_lines(*text);
    const size_t total = lines.size();
    if (total == 0) return tool_error("artifact " + id + " is empty");
    const size_t start = args.contains("start_line") ? args["start_line"].get<size_t>() : 1;
    size_t end = args.contains("end_line") ? args["end_line"].get<size_t>() : total;
    if (start > total)
      return tool_error("start_line " + std::to_string(start) + " is past the end of " + id + ", which has " +
                        std::to_string(total) + " lines");
    if (end < start) return tool_error("end_line " + std::to_string(end) + " is before start_line " + std::to_string(start));
    end = std::min(end, total);
    std::string out;
    size_t last = start - 1;
    for (size_t i = start; i <= end; ++i) {
      const std::string_view line = lines[i - 1];
      if (i > start && out.size() + line.size() + 1 > ctx.output_limit_bytes) break;
      out.append(line);
      out += '\n';
      last = i;
    }
    if (last < end)
      out += "[" + id + ": lines " + std::to_string(start) + "-" + std::to_string(last) + " of " + std::to_string(total) +
             " (output limit reached); continue with start_line=" + std::to_string(last + 1) + "]";
    else
      out += "[" + id + ": lines " + std::to_string(start) + "-" + std::to_string(last) + " of " + std::to_string(total) + "]";
    ToolResult r;
    r.output = std::move(out);
    r.data = {{"id", id}, {"lines", total}, {"start_line", start}, {"end_line", last}};
    return r;
  }
};

}  // namespace

std::shared_ptr<const Tool> make_read_artifact_tool() { return std::make_shared<ReadArtifactTool>(); }

}  // namespace nagent
