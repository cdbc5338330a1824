// The first process of a sandboxed run. Cloned from the runner into new namespaces, it
// builds the view, applies limits, drops privileges, then forks the command and stays
// as its PID 1: reaping orphans, forwarding the timeout's SIGTERM to every process of
// the run, and reporting the command's exit status before it exits (which makes the
// kernel kill whatever is left in the namespace). It runs only async-signal-safe code:
// everything it needs is prepared by the parent before the clone.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "sandbox/filesystem_view.h"
#include "sandbox/process_limits.h"
#include "sandbox/seccomp_filter.h"

namespace nagent::sandbox {

struct InitPlan {
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1, report_fd = -1;
  bool pid_namespace = true;
  bool network_namespace = true;  // a fresh one was created by the clone: bring up loopback
  int network_namespace_fd = -1;  // else, when >= 0: enter this one (setns)
  bool user_namespace = false;  // the caller is not root: maps its uid/gid to itself
  std::string uid_map, gid_map;
  const FilesystemView* view = nullptr;     // null: no filesystem view (namespaces off)
  const ProcessLimits* limits = nullptr;
  const SeccompProgram* seccomp = nullptr;  // null: no syscall filter
  const std::vector<std::string>* cgroup_join_files = nullptr;  // cgroup v1: write "0" to each
  std::string workdir;
  std::vector<char*> argv, envp;            // null-terminated
  std::vector<std::string> candidates;      // executables to try, in order
  alignas(16) mutable char command_stack[32 * 1024];  // the command's stack until it execs
};

// Child side; never returns.
[[noreturn]] void run_init(const InitPlan& plan) noexcept;

}  // namespace nagent::sandbox
