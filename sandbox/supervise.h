// The parent's side of a run, shared by every runner: feed stdin, capture stdout/stderr
// up to a cap, enforce the wall-clock timeout, reap. How the process was started and how
// its tree is signalled differ per runner and come in as arguments.
#pragma once

#include <sys/types.h>

#include <functional>

#include "sandbox/sandbox.h"

namespace nagent::sandbox {

// A started process. The fds are owned by the struct (closed by supervise()).
struct Child {
  pid_t pid = -1;      // its exit ends the run
  int pidfd = -1;      // readable once pid has exited
  int stdin_fd = -1;   // write end of its stdin; -1 when it has none to feed
  int stdout_fd = -1;  // read ends of its stdout and stderr
  int stderr_fd = -1;
};

// Sends a signal to the whole process tree of the run (a process group, or the init of a
// PID namespace). Called with SIGTERM at the timeout, SIGKILL after the grace period, and
// SIGKILL once the main process has exited so no stray descendant outlives the run.
using SignalTree = std::function<void(int sig)>;

// Runs until child.pid has exited and been reaped. Fills result's output fields and
// timed_out; returns the raw wait status of child.pid.
int supervise(Child& child, const Command& cmd, const SignalTree& signal_tree, Result& result);

// The pidfd of a child of this process (which must not have been reaped yet).
int open_pidfd(pid_t pid);

// Sets exit_code / signal from a wait status.
void decode_wait_status(int status, Result& result);

}  // namespace nagent::sandbox
