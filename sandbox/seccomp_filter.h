// The syscall filter: a deny-list of the kernel interfaces a sandboxed program has no
// business using (ptrace, mount, modules, bpf, new user namespaces, raw sockets, ...).
// Compiled once per runner with libseccomp; installed in each child with one syscall.
#pragma once

#include <linux/filter.h>

#include <string>
#include <vector>

namespace nagent::sandbox {

class SeccompProgram {
 public:
  // The "default" profile plus extra_deny (syscall names; unknown names throw SandboxError).
  // Denied calls fail with EPERM; clone3 fails with ENOSYS so libc falls back to clone,
  // whose flags the filter can inspect; syscalls of a foreign architecture kill the process.
  static SeccompProgram build(const std::vector<std::string>& extra_deny);

  // Child side, async-signal-safe: installs the filter on the calling thread (requires
  // no_new_privs or CAP_SYS_ADMIN). Returns 0 or an errno.
  int install() const noexcept;

  size_t instructions() const { return filter_.size(); }
  // The raw cBPF program, as seccomp_export_bpf writes it (what `bwrap --seccomp FD` reads).
  std::string bytes() const {
    return std::string(reinterpret_cast<const char*>(filter_.data()), filter_.size() * sizeof(sock_filter));
  }

 private:
  std::vector<sock_filter> filter_;
};

// The syscalls the default profile denies, by name (for docs and tests).
const std::vector<std::string>& default_denied_syscalls();

}  // namespace nagent::sandbox
