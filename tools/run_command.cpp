#include "tools/run_command.h"

#include <cstring>

namespace nagent {

sandbox::Result run_shell_command(ToolContext& ctx, const std::string& command, double timeout_s) {
  sandbox::Command cmd;
  // The outer shell points stderr at stdout, then execs a shell for the command itself,
  // so even the inner shell's syntax errors arrive in the merged stream.
  cmd.argv = {"/bin/sh", "-c", "exec 2>&1; exec /bin/sh -c \"$1\"", "sh", command};
  cmd.workdir = ctx.workspace.root().string();
  cmd.timeout_s = timeout_s;
  return ctx.runner.run(cmd);
}

int outcome_code(const sandbox::Result& result) {
  if (result.timed_out) return 124;
  if (result.signaled()) return 128 + result.signal;
  return result.exit_code;
}

namespace {

// The status lines after the output.
std::string status_lines(const sandbox::Result& result, double timeout_s) {
  std::string text;
  uint64_t dropped = result.stdout_dropped + result.stderr_dropped;
  if (dropped > 0) {
    text += '[';
    text += std::to_string(dropped) + " more bytes of output were not captured (capture limit reached)]\n";
  }
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%g", timeout_s);
  if (result.timed_out) {
    text += std::string("[timed out after ") + seconds + " s; the command and its child processes were killed]";
  } else if (result.signaled()) {
    const char* abbrev = sigabbrev_np(result.signal);
    text += "[killed by signal " + std::to_string(result.signal) + (abbrev ? std::string(" (SIG") + abbrev + ")" : "") + "]";
  } else {
    text += "[exit code " + std::to_string(result.exit_code) + "]";
  }
  if (!result.note.empty()) text += "\n[sandbox: " + result.note + "]";
  return text;
}

std::string with_newline(std::string text) {
  if (text.back() != '\n') text += '\n';
  return text;
}

}  // namespace

OutcomeText describe_outcome(const sandbox::Result& result, const ToolContext& ctx, double timeout_s,
                             double head_share) {
  const std::string output = result.stdout_data + result.stderr_data;
  const std::string status = status_lines(result, timeout_s);
  if (output.empty()) return {"(no output)\n" + status, ""};
  if (output.size() <= ctx.output_limit_bytes) return {with_newline(output) + status, ""};
  return {with_newline(cap_output(output, ctx.output_limit_bytes, head_share)) + status, with_newline(output) + status};
}

}  // namespace nagent
