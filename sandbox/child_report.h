// Messages from the sandbox's child processes to the runner, over a pipe: a setup step
// that failed, an exec that failed, or the command's wait status. Written with one
// write(2) each (smaller than PIPE_BUF, so atomic); no allocation on the child side.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace nagent::sandbox {

struct ChildReport {
  enum Kind : int { kSetupFailed = 1, kExecFailed = 2, kExited = 3 };
  int kind = 0;
  int err = 0;          // errno of the failed step
  int wait_status = 0;  // kExited: the command's status as wait(2) gives it
  char step[64] = {};   // "mount proc", "execve", ...
  char path[256] = {};  // what the step acted on, if anything
};

// Child side: sends a report and returns false (so setup code can `return report_failure(...)`).
inline bool send_report(int fd, int kind, const char* step, const char* path, int err,
                        int wait_status = 0) noexcept {
  ChildReport r;
  r.kind = kind;
  r.err = err;
  r.wait_status = wait_status;
  if (step) std::strncpy(r.step, step, sizeof r.step - 1);
  if (path) std::strncpy(r.path, path, sizeof r.path - 1);
  ssize_t unused = ::write(fd, &r, sizeof r);
  (void)unused;
  return false;
}

// Where a child reports setup failures: the step, the path and errno at the time of the call.
struct ReportTo {
  int fd;
  bool fail(const char* step, const char* path = nullptr) const noexcept {
    return send_report(fd, ChildReport::kSetupFailed, step, path, errno);
  }
};

}  // namespace nagent::sandbox
