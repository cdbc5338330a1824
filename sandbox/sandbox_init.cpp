#include "sandbox/sandbox_init.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sandbox/network.h"
#include "sandbox/privileges.h"

namespace nagent::sandbox {

namespace {

constexpr int kReportFd = 3;

// Set in the init process only (its own copy of this variable).
bool g_forward_to_namespace = false;

void forward_sigterm(int) {
  // In a PID namespace kill(-1) reaches every process of the run but init itself.
  // Without one, the runner signals the process group directly and init need not act.
  if (g_forward_to_namespace) ::kill(-1, SIGTERM);
}

// A process group of its own (what the runner signals when there is no PID namespace)
// and no controlling terminal, so /dev/tty cannot reach the caller's terminal. Not
// setsid(): where the scheduler groups tasks by session (CONFIG_SCHED_AUTOGROUP, the
// distributions' default) a new session is also a new scheduling group, created and torn
// down with every run and competing for the CPUs as a fresh group; on a busy machine that
// made a Python suite 10-15% slower in wall time at the same CPU time. TIOCNOTTY from a
// process that is not a session leader only detaches that process (and what it starts);
// none of them can take a terminal again without setsid() of its own, which gives a
// session without one, as before.
void leave_caller_terminal() noexcept {
  int tty = ::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  bool detached = tty < 0 ? errno == ENXIO : ::ioctl(tty, TIOCNOTTY) == 0;  // ENXIO: it had none
  if (tty >= 0) ::close(tty);
  if (detached) {
    ::setpgid(0, 0);
  } else {
    ::setsid();  // could not tell or could not detach: a new session certainly has none
  }
}

bool write_file(const char* path, const std::string& text, const ReportTo& report) {
  int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return report.fail("open", path);
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  int err = errno;
  ::close(fd);
  errno = err;
  return ok || report.fail("write", path);
}

// stdin, stdout, stderr and the report pipe become 0..3; every other descriptor the
// runner's process had (other runs' pipes included) is closed.
bool settle_descriptors(const InitPlan& plan) {
  int wanted[4] = {plan.stdin_fd, plan.stdout_fd, plan.stderr_fd, plan.report_fd};
  int moved[4];
  for (int i = 0; i < 4; ++i)
    if ((moved[i] = ::fcntl(wanted[i], F_DUPFD, 4)) < 0) return false;
  for (int i = 0; i < 4; ++i)
    if (::dup2(moved[i], i) < 0) return false;
  if (::fcntl(kReportFd, F_SETFD, FD_CLOEXEC) != 0) return false;
  return ::syscall(SYS_close_range, 4u, ~0u, 0u) == 0;
}

int exec_command(void* arg) {
  const InitPlan& plan = *static_cast<const InitPlan*>(arg);
  ReportTo report{kReportFd};
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (::chdir(plan.workdir.c_str()) != 0) {
    report.fail("chdir", plan.workdir.c_str());
    ::_exit(126);
  }
  if (plan.seccomp) {
    if (int err = plan.seccomp->install()) {
      errno = err;
      report.fail("install seccomp filter");
      ::_exit(126);
    }
  }
  int first_error = ENOENT;
  const char* failed = plan.candidates.empty() ? "" : plan.candidates[0].c_str();
  for (const auto& candidate : plan.candidates) {
    ::execve(candidate.c_str(), plan.argv.data(), plan.envp.data());
    if (errno != ENOENT && errno != ENOTDIR && first_error == ENOENT) {
      first_error = errno;  // like execvp: a found-but-unrunnable file is the error to report
      failed = candidate.c_str();
    }
  }
  send_report(kReportFd, ChildReport::kExecFailed, "execve", failed, first_error);
  ::_exit(first_error == ENOENT ? 127 : 126);
}

}  // namespace

void run_init(const InitPlan& plan) noexcept {
  // If the runner's thread dies (nagent killed), the run dies with it.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  leave_caller_terminal();
  if (plan.network_namespace_fd >= 0 && ::setns(plan.network_namespace_fd, CLONE_NEWNET) != 0) {
    send_report(plan.report_fd, ChildReport::kSetupFailed, "enter the network namespace", nullptr, errno);
    ::_exit(125);
  }
  if (!settle_descriptors(plan)) {
    send_report(plan.report_fd, ChildReport::kSetupFailed, "set up descriptors", nullptr, errno);
    ::_exit(125);
  }
  // The runner may have died before PR_SET_PDEATHSIG took effect: then the report pipe
  // has no reader left (getppid() cannot tell, it is 0 in a new PID namespace).
  pollfd reader{kReportFd, POLLOUT, 0};
  if (::poll(&reader, 1, 0) == 1 && (reader.revents & POLLERR)) ::_exit(125);
  ReportTo report{kReportFd};
  auto fail = [](bool ok) {
    if (!ok) ::_exit(125);
  };

  if (plan.cgroup_join_files)
    for (const auto& file : *plan.cgroup_join_files) fail(write_file(file.c_str(), "0", report));
  if (plan.user_namespace) {
    // A caller that changed uid is not dumpable, which leaves /proc/self/*_map owned by
    // root and unwritable for it.
    ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    fail(write_file("/proc/self/setgroups", "deny", report));
    fail(write_file("/proc/self/uid_map", plan.uid_map, report));
    fail(write_file("/proc/self/gid_map", plan.gid_map, report));
  }
  if (plan.view) {
    fail(plan.view->enter(report));
    if (::sethostname("sandbox", 7) != 0) fail(report.fail("sethostname"));
  }
  if (plan.network_namespace) fail(bring_up_loopback(report));
  fail(plan.limits->apply(report));
  fail(drop_privileges(report));
  // init's memory is a copy of the runner's (nagent's heap, its environment, any API key
  // it holds). Not dumpable, /proc/1/mem and /proc/1/environ need CAP_SYS_PTRACE, which
  // nothing in the run has; the command gets its own memory at exec.
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) fail(report.fail("make init undumpable"));

  g_forward_to_namespace = plan.pid_namespace;
  struct sigaction term {};
  term.sa_handler = forward_sigterm;
  ::sigaction(SIGTERM, &term, nullptr);

  // vfork-style: the command borrows init's memory until it execs, which saves copying
  // the address space a second time (fork() proper would also run atfork handlers and
  // take libc locks another thread of the runner's process may have held at our clone).
  pid_t command = ::clone(exec_command, plan.command_stack + sizeof plan.command_stack,
                          CLONE_VM | CLONE_VFORK | SIGCHLD, const_cast<InitPlan*>(&plan));
  if (command < 0) fail(report.fail("start the command"));

  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, 0);
    if (pid == command) {
      send_report(kReportFd, ChildReport::kExited, nullptr, nullptr, 0, status);
      ::_exit(0);
    }
    if (pid < 0 && errno == ECHILD) ::_exit(125);
  }
}

}  // namespace nagent::sandbox
