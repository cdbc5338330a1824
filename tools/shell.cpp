// shell: one command line in the workspace, through the sandbox runner.
#include "tools/builtin.h"
#include "tools/run_command.h"

namespace nagent {

namespace {

constexpr double kDefaultTimeout = 120;
constexpr double kMaxTimeout = 1800;

class ShellTool : public Tool {
 public:
  std::string name() const override { return "shell"; }
  std::string description() const override {
    return "Run a command line with /bin/sh in the workspace root (pipes, &&, redirections work). Returns "
           "stdout and stderr merged in order, then the exit code. Long output keeps its beginning and end "
           "with a note of what was cut. Stdin is empty: interactive programs get end-of-file. The command "
           "and everything it started are killed after timeout_s seconds (default 120, max 1800). Each call "
           "starts a fresh shell: `cd` and variables do not carry over. Prefer read_file, search and "
           "list_dir for looking at files. "
           "Example: {\"command\": \"python3 -m pip list | grep -i requests\", \"timeout_s\": 60}";
  }
  json parameters() const override {
    return {{"type", "object"},
            {"properties",
             {{"command", {{"type", "string"}, {"description", "Shell command line"}}},
              {"timeout_s",
               {{"type", "number"}, {"minimum", 1}, {"maximum", static_cast<int>(kMaxTimeout)}, {"description", "Seconds before the command is killed; default 120"}}}}},
            {"required", {"command"}},
            {"additionalProperties", false}};
  }
  bool read_only() const override { return false; }

  ToolResult run(const json& args, ToolContext& ctx) const override {
    const std::string command = args["command"].get<std::string>();
    const double timeout = args.contains("timeout_s") ? args["timeout_s"].get<double>() : kDefaultTimeout;
    if (command.find_first_not_of(" \t\n") == std::string::npos) return tool_error("command is empty");
    sandbox::Result res;
    try {
      res = run_shell_command(ctx, command, timeout);
    } catch (const std::exception& e) {
      return tool_error(std::string("the sandbox could not run the command: ") + e.what());
    }
    ToolResult r;
    r.ok = res.ok();
    r.exit_code = outcome_code(res);
    OutcomeText text = describe_outcome(res, ctx, timeout);
    r.output = std::move(text.shown);
    r.full_output = std::move(text.whole);
    r.data = {{"exit_code", r.exit_code}, {"timed_out", res.timed_out}, {"duration_ms", res.duration_ms}};
    return r;
  }
};

}  // namespace

std::shared_ptr<const Tool> make_shell_tool() { return std::make_shared<ShellTool>(); }

}  // namespace nagent
