// write_file: create or overwrite a file with exactly the given content.
#include <algorithm>
#include <system_error>

#include "tools/builtin.h"
#include "tools/text_file.h"

namespace nagent {

namespace {

class WriteFileTool : public Tool {
 public:
  std::string name() const override { return "write_file"; }
  std::string description() const override {
    return "Create a file, or replace a file's whole content, with exactly `content` (include the "
           "final newline). Missing parent directories are created. An existing file keeps its "
           "permissions. To change part of an existing file prefer edit_file or apply_patch, which "
           "do not need the whole file repeated. "
           "Example: {\"path\": \"src/util.py\", \"content\": \"def add(a, b):\\n    return a + b\\n\"}";
  }
  json parameters() const override {
    return {{"type", "object"},
            {"properties",
             {{"path", {{"type", "string"}, {"description", "File path, relative to the workspace root"}}},
              {"content", {{"type", "string"}, {"description", "The file's complete new content"}}}}},
            {"required", {"path", "content"}},
            {"additionalProperties", false}};
  }
  bool read_only() const override { return false; }

  ToolResult run(const json& args, ToolContext& ctx) const override {
    const std::string path = args["path"].get<std::string>();
    const std::string content = args["content"].get<std::string>();
    try {
      auto abs = ctx.workspace.resolve(path);
      std::string shown = ctx.workspace.relative(abs);
      if (abs == ctx.workspace.root()) return tool_error("path '" + path + "' is the workspace root, not a file");
      std::error_code ec;
      bool existed = std::filesystem::exists(abs, ec);
      if (existed && std::filesystem::is_directory(abs, ec)) return tool_error(shown + " is a directory");
      // The parent was resolved with every symlink followed, so creating it stays inside.
      std::filesystem::create_directories(abs.parent_path(), ec);
      if (ec) return tool_error("cannot create directory " + ctx.workspace.relative(abs.parent_path()) + ": " + ec.message());
      text_file::write_atomic(abs, content, shown);
      size_t lines = static_cast<size_t>(std::count(content.begin(), content.end(), '\n'));
      if (!content.empty() && content.back() != '\n') ++lines;
      ToolResult r;
      r.output = std::string(existed ? "Overwrote " : "Created ") + shown + ": " + std::to_string(content.size()) +
                 " bytes, " + std::to_string(lines) + " line" + (lines == 1 ? "" : "s");
      if (!content.empty() && content.back() != '\n') r.output += " (no newline at end)";
      r.data = {{"path", shown}, {"bytes", content.size()}, {"lines", lines}, {"created", !existed}};
      return r;
    } catch (const std::exception& e) {
      return tool_error(e.what());
    }
  }
};

}  // namespace

std::shared_ptr<const Tool> make_write_file_tool() { return std::make_shared<WriteFileTool>(); }

}  // namespace nagent
