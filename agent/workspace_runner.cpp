#include "agent/workspace_runner.h"

#include <filesystem>

#include "agent/errors.h"

namespace nagent {
namespace {

Workspace open_workspace(const std::string& repo) {
  std::error_code ec;
  if (!std::filesystem::is_directory(repo, ec))
    throw ConfigError("repository " + repo + " is not a directory (pass --repo DIR)");
  try {
    return Workspace(repo);
  } catch (const PathError& e) {
    throw ConfigError(e.what());
  }
}

}  // namespace

WorkspaceRunner::WorkspaceRunner(const std::string& repo, const std::string& policy)
    : workspace_(open_workspace(repo)) {
  try {
    policy_ = sandbox::load_policy(policy);
    context_ = ContextPolicy::from_policy(policy_, ContextPolicy{});
  } catch (const std::runtime_error& e) {
    throw ConfigError(e.what());
  } catch (const std::invalid_argument& e) {
    throw ConfigError(e.what());
  }
  runner_ = sandbox::make_runner(policy_, workspace_.root().string());
}

std::string WorkspaceRunner::diff_stat() {
  std::error_code ec;
  if (!std::filesystem::exists(workspace_.root() / ".git", ec)) return "";
  sandbox::Command cmd;
  cmd.argv = {"git", "diff", "--shortstat"};
  cmd.workdir = workspace_.root().string();
  cmd.timeout_s = 30;
  sandbox::Result r = runner_->run(cmd);
  if (!r.ok()) return "";
  std::string s = r.stdout_data;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  size_t start = s.find_first_not_of(' ');
  return start == std::string::npos ? "" : s.substr(start);
}

}  // namespace nagent
