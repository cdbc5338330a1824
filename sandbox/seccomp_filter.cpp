#include "sandbox/seccomp_filter.h"

#include <linux/sched.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "sandbox/sandbox.h"

namespace nagent::sandbox {

namespace {

// Every namespace a clone/unshare could create. Creating any of them is either pointless
// without capabilities or (CLONE_NEWUSER) the first step of most kernel exploits.
constexpr uint64_t kNamespaceFlags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET |
                                     CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP | CLONE_NEWTIME;

struct CtxDeleter {
  void operator()(scmp_filter_ctx ctx) const { seccomp_release(ctx); }
};

void check(int rc, const std::string& what) {
  if (rc < 0) throw SandboxError("seccomp: " + what + ": " + std::strerror(-rc));
}

}  // namespace

const std::vector<std::string>& default_denied_syscalls() {
  static const std::vector<std::string> names = {
      // Inspecting or changing other processes.
      "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
      // The filesystem view: mounts and namespaces are set up before the program starts.
      "mount", "umount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
      "fsconfig", "fsmount", "fspick", "mount_setattr", "setns",
      // The kernel itself.
      "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "bpf",
      "perf_event_open", "userfaultfd", "lookup_dcookie", "syslog", "iopl", "ioperm",
      "create_module", "get_kernel_syms", "query_module", "uselib", "nfsservctl", "_sysctl",
      "vm86", "vm86old", "io_uring_setup", "io_uring_enter", "io_uring_register",
      // Keyrings are shared with the host.
      "keyctl", "add_key", "request_key",
      // Files by handle bypass the mount view.
      "open_by_handle_at", "name_to_handle_at",
      // The machine.
      "reboot", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "vhangup",
      "settimeofday", "clock_settime", "clock_settime64", "clock_adjtime", "clock_adjtime64",
      "adjtimex", "stime", "fanotify_init",
  };
  return names;
}

SeccompProgram SeccompProgram::build(const std::vector<std::string>& extra_deny) {
  std::unique_ptr<void, CtxDeleter> ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx) throw SandboxError("seccomp: cannot create a filter context");
  scmp_filter_ctx c = ctx.get();
  // Syscalls of a foreign architecture (int 0x80 from a 64-bit process, x32) would slip
  // past rules written for the native numbers: the process is killed instead.
  check(seccomp_attr_set(c, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS), "bad-arch action");
  // A binary tree over syscall numbers instead of a linear chain: fewer instructions run
  // for the syscalls that reach the filter at all (the kernel caches plain allows).
  check(seccomp_attr_set(c, SCMP_FLTATR_CTL_OPTIMIZE, 2), "optimize");
  const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);

  auto deny = [&](const std::string& name, bool must_exist) {
    int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) {
      if (must_exist) throw SandboxError("seccomp: unknown syscall '" + name + "'");
      return;  // not a syscall on this architecture
    }
    check(seccomp_rule_add(c, eperm, nr, 0), "deny " + name);
  };
  for (const auto& name : default_denied_syscalls()) deny(name, false);
  for (const auto& name : extra_deny) deny(name, true);

  // New namespaces (a user namespace above all) are refused in clone and unshare. clone3
  // passes its flags in memory where no filter can read them, so it reports ENOSYS and
  // libc falls back to clone.
  check(seccomp_rule_add(c, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0), "clone3");
  const uint32_t native = seccomp_arch_native();
  const bool clone_flags_second = native == SCMP_ARCH_S390X || native == SCMP_ARCH_S390;
  for (uint64_t bit = 1; bit != 0; bit <<= 1) {
    if (!(kNamespaceFlags & bit)) continue;
    check(seccomp_rule_add(c, eperm, SCMP_SYS(unshare), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, bit, bit)), "unshare");
    scmp_arg_cmp flags = clone_flags_second ? SCMP_A1(SCMP_CMP_MASKED_EQ, bit, bit)
                                            : SCMP_A0(SCMP_CMP_MASKED_EQ, bit, bit);
    check(seccomp_rule_add(c, eperm, SCMP_SYS(clone), 1, flags), "clone");
  }

  // Raw and packet sockets: crafting packets, sniffing. (Without CAP_NET_RAW the kernel
  // refuses them too; the filter makes that independent of the capability set.)
  check(seccomp_rule_add(c, eperm, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_PACKET)), "socket");
  for (scmp_datum_t family : {AF_INET, AF_INET6}) {
    for (scmp_datum_t type : {SOCK_RAW, SOCK_PACKET}) {
      check(seccomp_rule_add(c, eperm, SCMP_SYS(socket), 2, SCMP_A0(SCMP_CMP_EQ, family),
                             SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, type)),
            "socket");
    }
  }

  // Pushing characters into a terminal's input queue: the classic way out of a sandbox
  // that shares the caller's terminal.
  for (unsigned long request : {TIOCSTI, TIOCLINUX}) {
    check(seccomp_rule_add(c, eperm, SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, request)),
          "ioctl");
  }

  // Export the compiled program once; children only hand it to the kernel.
  int fd = ::memfd_create("nagent-seccomp", MFD_CLOEXEC);
  if (fd < 0) throw SandboxError(std::string("seccomp: memfd_create: ") + std::strerror(errno));
  check(seccomp_export_bpf(c, fd), "export");
  off_t size = ::lseek(fd, 0, SEEK_END);
  SeccompProgram program;
  program.filter_.resize(static_cast<size_t>(size) / sizeof(sock_filter));
  ssize_t got = ::pread(fd, program.filter_.data(), static_cast<size_t>(size), 0);
  ::close(fd);
  if (got != size || program.filter_.empty()) throw SandboxError("seccomp: cannot read the exported program");
  return program;
}

int SeccompProgram::install() const noexcept {
  sock_fprog prog{static_cast<unsigned short>(filter_.size()), const_cast<sock_filter*>(filter_.data())};
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) return errno;
  return 0;
}


}  // namespace nagent::sandbox
