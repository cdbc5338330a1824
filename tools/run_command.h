// Running a shell command line for the model (shell, run_tests): through the context's
// sandbox::Runner, in the workspace, stdout and stderr merged in order, and the outcome
// written as text the model can read.
#pragma once

#include <string>

#include "tools/tool.h"

namespace nagent {

// Runs `/bin/sh -c command` with stderr joined to stdout (one pipe, so the two keep their
// relative order). Throws sandbox::SandboxError when the runner cannot start it.
sandbox::Result run_shell_command(ToolContext& ctx, const std::string& command, double timeout_s);

// The output (capped to the context's limit, head_share as in cap_output), then one
// status line: "[exit code 1]", "[timed out after 5 s; the command and its child
// processes were killed]", "[killed by signal 9 (SIGKILL)]". `whole` is the same text
// uncapped, when the cap cut something (empty otherwise).
struct OutcomeText {
  std::string shown;
  std::string whole;
};
OutcomeText describe_outcome(const sandbox::Result& result, const ToolContext& ctx, double timeout_s,
                             double head_share = 0.5);

// The exit status the model and events see: exit code, 128+signal when killed, 124 on
// timeout (timeout(1)'s convention).
int outcome_code(const sandbox::Result& result);

}  // namespace nagent
