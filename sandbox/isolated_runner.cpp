// The runner for every policy but "none": each command runs in fresh mount, PID,
// network, IPC and UTS namespaces (and a user namespace when nagent is not root), with
// the policy's filesystem view, seccomp filter, rlimits and cgroup limits. What can be
// prepared once (the view's plan, the BPF program, the cgroups) is prepared here.
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <utility>

#include "sandbox/cgroup.h"
#include "sandbox/deferred_close.h"
#include "sandbox/environment.h"
#include "sandbox/filesystem_view.h"
#include "sandbox/network.h"
#include "sandbox/policy.h"
#include "sandbox/process_limits.h"
#include "sandbox/sandbox_init.h"
#include "sandbox/seccomp_filter.h"
#include "sandbox/supervise.h"

namespace nagent::sandbox {

namespace {

namespace fs = std::filesystem;

constexpr uint64_t kNamespaces = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;

// fork()-like clone into new namespaces (and, given a cgroup v2 directory, into that
// cgroup): returns 0 in the child, which continues on a copy of this stack. The pidfd
// comes back atomically with the pid.
pid_t clone_into(uint64_t flags, int* pidfd, int cgroup_fd = -1) {
  clone_args args{};
  args.flags = flags | CLONE_PIDFD | (cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0);
  args.pidfd = reinterpret_cast<uint64_t>(pidfd);
  args.exit_signal = SIGCHLD;
  if (cgroup_fd >= 0) args.cgroup = static_cast<uint64_t>(cgroup_fd);
  return static_cast<pid_t>(::syscall(SYS_clone3, &args, sizeof args));
}

struct Pipe {
  int read = -1, write = -1;
  Pipe() {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw SandboxError(std::string("pipe: ") + std::strerror(errno));
    read = p[0];
    write = p[1];
  }
  ~Pipe() {
    close_read();
    close_write();
  }
  void close_read() {
    if (read >= 0) ::close(read);
    read = -1;
  }
  void close_write() {
    if (write >= 0) ::close(write);
    write = -1;
  }
};

// Hands a descriptor to a DeferredClose at the end of its scope (also when run() throws).
struct CloseLater {
  DeferredClose& closer;
  int fd;
  ~CloseLater() { closer.close_later(fd); }
};

// A reference to the namespace of kind `ns` ("mnt", ...) of process pid; -1 when it cannot
// be had (the process already gone, or not ours to inspect any more).
int open_namespace(pid_t pid, const char* ns) {
  std::string path = "/proc/" + std::to_string(pid) + "/ns/" + ns;
  return ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
}

std::string policy_label(const Policy& p) { return p.source.empty() ? p.name : p.source; }

class IsolatedRunner final : public Runner {
 public:
  IsolatedRunner(const Policy& policy, const std::string& workspace_root)
      : policy_(policy), limits_(policy.limits) {
    std::error_code ec;
    workspace_ = fs::canonical(workspace_root, ec).string();
    if (ec || !fs::is_directory(workspace_))
      throw SandboxError("workspace " + workspace_root + ": not a directory");
    user_namespace_ = ::geteuid() != 0;
    namespace_flags_ = kNamespaces | (user_namespace_ ? CLONE_NEWUSER : 0);
    if (policy.network) namespace_flags_ &= ~static_cast<uint64_t>(CLONE_NEWNET);

    if (int err = probe_namespaces()) {
      std::string what = std::string("cannot create namespaces (clone: ") + std::strerror(err) + "): " +
                         (user_namespace_ ? "user namespaces are disabled on this host "
                                            "(sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone) "
                                            "or nagent runs in a container that forbids them"
                                          : "nagent runs as root but without CAP_SYS_ADMIN (a container?)");
      if (!policy.allow_without.namespaces)
        throw SandboxError(what + ". Policy " + policy_label(policy) +
                           " requires them; allow_without = { namespaces = true } accepts running "
                           "without a filesystem view, PID or network isolation");
      namespace_flags_ = 0;
      user_namespace_ = false;
      standing_notes_ += "weaker sandbox: " + what + "; running without namespaces (allow_without.namespaces). ";
    }
    if (namespace_flags_) view_.emplace(policy, workspace_);
    if ((namespace_flags_ & CLONE_NEWNET) && !user_namespace_) {
      // Entering a prepared namespace needs privileges over it that a user namespace
      // created per run would not have; root reuses one, others create one per run.
      std::string why;
      netns_fd_ = make_loopback_namespace(&why);
      if (netns_fd_ < 0) throw SandboxError("cannot prepare the network namespace: " + why);
      namespace_flags_ &= ~static_cast<uint64_t>(CLONE_NEWNET);
    }

    if (policy.seccomp != "none") {
      if (::prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0) {
        std::string what = "the kernel has no seccomp filter support";
        if (!policy.allow_without.seccomp)
          throw SandboxError(what + ". Policy " + policy_label(policy) +
                             " requires it; allow_without = { seccomp = true } accepts running without it");
        standing_notes_ += "weaker sandbox: " + what + "; no syscall filter (allow_without.seccomp). ";
      } else {
        seccomp_ = SeccompProgram::build(policy.seccomp_deny);
      }
    }

    std::string why;
    try {
      cgroups_ = CgroupPool::open(policy.limits, &why);
    } catch (const SandboxError& e) {
      why = e.what();
    }
    if (!cgroups_ && (policy.limits.memory_mb || policy.limits.processes || policy.limits.cpu_percent)) {
      if (!policy.allow_without.cgroups)
        throw SandboxError("no usable cgroup for the run limits (" + why + "). Policy " + policy_label(policy) +
                           " sets limits.memory_mb/processes/cpu_percent; allow_without = { cgroups = true } "
                           "accepts per-process rlimits only");
      standing_notes_ += "weaker sandbox: no cgroup (" + why +
                         "): memory, process and CPU limits are per-process rlimits only (allow_without.cgroups). ";
    }
    if (!standing_notes_.empty()) standing_notes_.pop_back();
  }

  Result run(const Command& cmd) override {
    if (cmd.argv.empty()) throw SandboxError("empty command: argv has no program");
    const auto start = std::chrono::steady_clock::now();
    std::string workdir = workspace_;
    if (!cmd.workdir.empty()) {
      std::error_code ec;
      workdir = fs::weakly_canonical(cmd.workdir, ec).string();
      if (ec || !(workdir == workspace_ || workdir.starts_with(workspace_ + "/")))
        throw SandboxError("workdir " + cmd.workdir + " is outside the sandbox's workspace " + workspace_);
    }

    std::map<std::string, std::string> extra = policy_.set_env;
    for (const auto& [k, v] : cmd.env) extra[k] = v;
    auto env = build_environment(view_ ? view_->inside_path() : "", "/tmp", policy_.env, extra);
    auto env_strings = environment_strings(env);
    std::vector<std::string> args = cmd.argv;

    InitPlan plan;
    for (auto& s : args) plan.argv.push_back(s.data());
    plan.argv.push_back(nullptr);
    for (auto& s : env_strings) plan.envp.push_back(s.data());
    plan.envp.push_back(nullptr);
    plan.candidates = executable_candidates(cmd.argv[0], env["PATH"]);
    plan.workdir = workdir;
    plan.pid_namespace = namespace_flags_ & CLONE_NEWPID;
    plan.network_namespace = namespace_flags_ & CLONE_NEWNET;
    plan.network_namespace_fd = netns_fd_;
    plan.user_namespace = user_namespace_;
    plan.uid_map = std::to_string(::geteuid()) + " " + std::to_string(::geteuid()) + " 1\n";
    plan.gid_map = std::to_string(::getegid()) + " " + std::to_string(::getegid()) + " 1\n";
    plan.view = view_ ? &*view_ : nullptr;
    plan.limits = &limits_;
    plan.seccomp = seccomp_ ? &*seccomp_ : nullptr;

    Pipe out, err, report;
    std::optional<Pipe> in;
    int devnull = -1;
    if (cmd.passthrough_stdio) {
      plan.stdin_fd = 0, plan.stdout_fd = 1, plan.stderr_fd = 2;
    } else {
      if (cmd.stdin_data.empty()) {
        devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        plan.stdin_fd = devnull;
      } else {
        in.emplace();
        plan.stdin_fd = in->read;
      }
      plan.stdout_fd = out.write;
      plan.stderr_fd = err.write;
    }
    plan.report_fd = report.write;

    CgroupPool::Lease lease;
    if (cgroups_) {
      lease = cgroups_->acquire();
      plan.cgroup_join_files = lease.join_files;
    }
    int pidfd = -1;
    pid_t pid = clone_into(namespace_flags_, &pidfd, lease.dir_fd);
    if (pid == 0) run_init(plan);
    int clone_errno = errno;
    if (devnull >= 0) ::close(devnull);
    if (pid < 0) {
      if (cgroups_) cgroups_->release(lease);
      throw SandboxError(std::string("cannot start the sandbox (clone: ") + std::strerror(clone_errno) + ")");
    }
    // The run's mount namespace, held until the run is over so its teardown (an RCU grace
    // period) happens on the DeferredClose thread rather than in init's exit, which the
    // caller would wait for. Nothing of the run can reach it: every process is gone by then.
    CloseLater mount_namespace{closer_, (namespace_flags_ & CLONE_NEWNS) ? open_namespace(pid, "mnt") : -1};

    Result result;
    Child child;
    child.pid = pid;
    child.pidfd = pidfd;
    if (!cmd.passthrough_stdio) {
      if (in) {
        in->close_read();
        child.stdin_fd = std::exchange(in->write, -1);
      }
      out.close_write();
      err.close_write();
      child.stdout_fd = std::exchange(out.read, -1);
      child.stderr_fd = std::exchange(err.read, -1);
    }
    report.close_write();
    // With a PID namespace, init forwards SIGTERM to the run and SIGKILL on init takes the
    // whole namespace down; without one, init leads the run's process group.
    bool ns = plan.pid_namespace;
    int status = supervise(child, cmd, [pid, ns](int sig) { ::kill(ns ? pid : -pid, sig); }, result);

    std::string notes = standing_notes_;
    if (cgroups_) {
      std::string hit = cgroups_->release(lease);
      if (!hit.empty()) notes += (notes.empty() ? "" : " ") + hit;
    }
    result.note = notes;
    read_reports(report.read, status, cmd, result);
    result.duration_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    return result;
  }

  ~IsolatedRunner() override {
    if (netns_fd_ >= 0) ::close(netns_fd_);
  }

  std::string describe() const override {
    std::string out = "sandbox policy " + policy_.name + (policy_.source.empty() ? "" : " (" + policy_.source + ")");
    if (!policy_.description.empty()) out += ": " + policy_.description;
    out += "\nnamespaces: ";
    if (!namespace_flags_) {
      out += "none";
    } else {
      out += "mount pid ipc uts";
      out += (namespace_flags_ & CLONE_NEWNET) || netns_fd_ >= 0 ? " net (loopback only)" : " (host network)";
      if (user_namespace_) out += " user";
    }
    out += "\nseccomp: " + (seccomp_ ? "default profile, " + std::to_string(seccomp_->instructions()) + " BPF instructions"
                                     : std::string("none"));
    out += "\ncgroups: " + (cgroups_ ? cgroups_->describe() : std::string("none"));
    const Limits& l = policy_.limits;
    out += "\nlimits: cpu_seconds=" + std::to_string(l.cpu_seconds) + " address_space_mb=" +
           std::to_string(l.address_space_mb) + " file_size_mb=" + std::to_string(l.file_size_mb) +
           " open_files=" + std::to_string(l.open_files) + " processes=" + std::to_string(l.processes) +
           " memory_mb=" + std::to_string(l.memory_mb) + " cpu_percent=" + std::to_string(l.cpu_percent) +
           " (0 = none)";
    if (view_) out += "\nPATH=" + view_->inside_path() + "\nfilesystem:\n" + view_->describe();
    if (!standing_notes_.empty()) out += "\n" + standing_notes_;
    return out;
  }

 private:
  // Returns 0 when the namespaces can be created, else the errno of clone.
  int probe_namespaces() {
    int pidfd = -1;
    pid_t pid = clone_into(namespace_flags_, &pidfd);
    if (pid == 0) ::_exit(0);
    if (pid < 0) return errno;
    ::close(pidfd);
    ::waitpid(pid, nullptr, 0);
    return 0;
  }

  void read_reports(int fd, int init_status, const Command& cmd, Result& result) const {
    ::fcntl(fd, F_SETFL, O_NONBLOCK);
    ChildReport r;
    bool exited = false;
    while (::read(fd, &r, sizeof r) == static_cast<ssize_t>(sizeof r)) {
      std::string what = r.step;
      if (r.path[0]) what.append(" ").append(r.path);
      what.append(": ").append(std::strerror(r.err));
      if (r.kind == ChildReport::kSetupFailed)
        throw SandboxError("sandbox setup failed: " + what + " (policy " + policy_label(policy_) +
                           "; `nagent sandbox --policy " + policy_.name + " --verbose -- true` shows the plan)");
      if (r.kind == ChildReport::kExecFailed) {
        result.stderr_data += "nagent sandbox: " + cmd.argv[0] + ": " +
                              (r.err == ENOENT ? std::string("command not found") : what) + "\n";
      }
      if (r.kind == ChildReport::kExited) {
        decode_wait_status(r.wait_status, result);
        exited = true;
      }
    }
    ::close(fd);
    if (!exited) {
      // init itself ended: killed at the timeout (SIGKILL takes the namespace down) or lost.
      decode_wait_status(init_status, result);
      if (!result.timed_out && !result.signaled())
        throw SandboxError("sandbox init ended without reporting the command's status");
    }
  }

  Policy policy_;
  std::string workspace_;
  bool user_namespace_ = false;
  uint64_t namespace_flags_ = 0;
  std::optional<FilesystemView> view_;
  std::optional<SeccompProgram> seccomp_;
  ProcessLimits limits_;
  std::unique_ptr<CgroupPool> cgroups_;
  std::string standing_notes_;  // mechanisms this host lacks that the policy accepts
  int netns_fd_ = -1;           // the runner's loopback-only network namespace
  DeferredClose closer_;        // finished runs' mount namespaces
};

}  // namespace

std::unique_ptr<Runner> make_runner(const Policy& policy, const std::string& workspace_root) {
  if (!policy.isolate) return make_plain_runner();
  return std::make_unique<IsolatedRunner>(policy, workspace_root);
}

}  // namespace nagent::sandbox
