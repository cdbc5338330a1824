// nagent tools [--json]: the built-in tools with their JSON schemas.
#include <cstdio>

#include "agent/cli/arguments.h"
#include "agent/cli/command.h"
#include "tools/tool.h"

namespace nagent::cli {
namespace {

int tools_main(const std::vector<std::string>& argv) {
  Arguments a;
  try {
    a = parse_arguments(argv, {}, {"--json", "--help", "-h"});
  } catch (const UsageError& e) {
    return fail(kExitUsage, e.what());
  }
  if (a.has("--help") || a.has("-h")) {
    std::puts("usage: nagent tools [--json]\n\nLists the built-in tools and their JSON schemas (--json: the OpenAI "
              "function schemas as sent to the model).");
    return kExitOk;
  }
  ToolRegistry tools = builtin_tools();
  if (a.has("--json")) {
    std::printf("%s\n", tools.openai_schemas().dump(2).c_str());
    return kExitOk;
  }
  for (const auto& name : tools.names()) {
    const Tool* t = tools.find(name);
    std::printf("%s%s\n", name.c_str(), t->read_only() ? "  (read-only)" : "");
    std::string desc = t->description();
    std::printf("  %s\n", desc.substr(0, desc.find('\n')).c_str());
    std::printf("  parameters: %s\n\n", t->parameters().dump().c_str());
  }
  std::string aliases;
  for (const auto& [alias, target] : tools.aliases()) aliases += (aliases.empty() ? "" : ", ") + alias + " -> " + target;
  if (!aliases.empty()) std::printf("aliases: %s\n", aliases.c_str());
  return kExitOk;
}

const bool registered = register_command({"tools", "list the built-in tools with their JSON schemas", &tools_main});

}  // namespace
}  // namespace nagent::cli
