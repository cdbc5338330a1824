// Factories of the built-in tools, one per tools/<name>.cpp. builtin_tools() registers
// them all; a recipe picks some through ToolRegistry::subset().
#pragma once

#include <memory>

#include "tools/tool.h"

namespace nagent {

std::shared_ptr<const Tool> make_read_file_tool();
std::shared_ptr<const Tool> make_write_file_tool();
std::shared_ptr<const Tool> make_edit_file_tool();
std::shared_ptr<const Tool> make_apply_patch_tool();
std::shared_ptr<const Tool> make_list_dir_tool();
std::shared_ptr<const Tool> make_search_tool();
std::shared_ptr<const Tool> make_shell_tool();
std::shared_ptr<const Tool> make_run_tests_tool();
std::shared_ptr<const Tool> make_finish_tool();
// The artifact tools: not in builtin_tools(); an agent whose context stores artifacts adds
// them to its own tools (they read only the session store, under any policy).
std::shared_ptr<const Tool> make_read_artifact_tool();
std::shared_ptr<const Tool> make_search_artifact_tool();

// Shared by the tools: an ok=false result with the given message.
ToolResult tool_error(std::string message);

}  // namespace nagent
