// The repository a run works on together with the sandbox runner its tools execute in,
// built from the chosen policy.
#pragma once

#include <memory>
#include <string>

#include "agent/context/context_policy.h"
#include "sandbox/policy.h"
#include "tools/workspace.h"

namespace nagent {

class WorkspaceRunner {
 public:
  // Throws ConfigError for a missing repository or an invalid policy (its context table included).
  WorkspaceRunner(const std::string& repo, const std::string& policy);
  Workspace& workspace() { return workspace_; }
  sandbox::Runner& runner() { return *runner_; }
  // The tools the policy lets an agent use; empty: all.
  const std::vector<std::string>& allowed_tools() const { return policy_.tools; }
  // The agents' context settings: the built-in defaults under the policy's `context` tables.
  const ContextPolicy& context_defaults() const { return context_; }
  // "1 file changed, 2 insertions(+), 1 deletion(-)" for a git repository, else "".
  std::string diff_stat();

 private:
  Workspace workspace_;
  sandbox::Policy policy_;
  ContextPolicy context_;
  std::unique_ptr<sandbox::Runner> runner_;
};

}  // namespace nagent
