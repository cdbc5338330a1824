// search_artifact: the lines of a stored tool output (an artifact) that match a regex, with
// their line numbers, so the model can read_artifact around them.
#include "tools/builtin.h"
#include "tools/regex.h"
#include "tools/text_file.h"

namespace nagent {

namespace {

constexpr size_t kMaxShownMatches = 200;
constexpr size_t kMaxLineChars = 300;

class SearchArtifactTool : public Tool {
 public:
  std::string name() const override { return "search_artifact"; }
  std::string description() const override {
    return "Search a stored tool output (an artifact, handle like art_0123456789abcdef) for a regular expression "
           "(PCRE2). Prints `LINE: text` for each matching line (at most 200), then the match count; read the "
           "surroundings with read_artifact. Example: {\"id\": \"art_0123456789abcdef\", \"pattern\": \"FAIL|Error\"}";
  }
  json parameters() const override {
    return {{"type", "object"},
            {"properties",
             {{"id", {{"type", "string"}, {"description", "The artifact's handle"}}},
              {"pattern", {{"type", "string"}, {"description", "Regular expression (PCRE2), matched line by line"}}}}},
            {"required", {"id", "pattern"}},
            {"additionalProperties", false}};
  }
  bool read_only() const override { return true; }

  ToolResult run(const json& args, ToolContext& ctx) const override {
    const std::string id = args["id"].get<std::string>();
    std::optional<std::string> text = ctx.artifacts ? ctx.artifacts->artifact_text(id) : std::nullopt;
    if (!text) return tool_error("no artifact '" + id + "' in this session (handles look like art_0123456789abcdef)");
    std::unique_ptr<Regex> re;
    try {
      re = std::make_unique<Regex>(args["pattern"].get<std::string>());
    } catch (const RegexError& e) {
      return tool_error(e.what());
    }
    const auto lines = text_file::split_lines(*text);
    std::string out;
    size_t matches = 0, shown = 0;
    json first_lines = json::array();
    try {
      for (size_t i = 0; i < lines.size(); ++i) {
        if (re->find(lines[i], 0) == std::string_view::npos) continue;
        ++matches;
        if (shown >= kMaxShownMatches || out.size() > ctx.output_limit_bytes) continue;
        std::string_view line = lines[i];
        std::string entry = std::to_string(i + 1) + ": ";
        if (line.size() > kMaxLineChars) {
          size_t cut = kMaxLineChars;
          while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;
          entry.append(line.substr(0, cut));
          entry += " [...]";
        } else {
          entry.append(line);
        }
        out += entry + "\n";
        first_lines.push_back(i + 1);
        ++shown;
      }
    } catch (const RegexError& e) {
      return tool_error(e.what());
    }
    if (matches == 0) out = "no line of " + id + " matches";
    else if (shown < matches)
      out += "[" + std::to_string(matches) + " matching lines of " + std::to_string(lines.size()) + "; first " +
             std::to_string(shown) + " shown]";
    else
      out += "[" + std::to_string(matches) + " matching line" + (matches == 1 ? "" : "s") + " of " +
             std::to_string(lines.size()) + "]";
    ToolResult r;
    r.output = std::move(out);
    r.data = {{"id", id}, {"matches", matches}, {"lines", first_lines}};
    return r;
  }
};

}  // namespace

std::shared_ptr<const Tool> make_search_artifact_tool() { return std::make_shared<SearchArtifactTool>(); }

}  // namespace nagent
