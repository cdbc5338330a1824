// The runner for `--policy none`: no isolation beyond its own process group, but the
// same environment scrubbing, caps, timeout and reaping as the isolating runner.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "sandbox/environment.h"
#include "sandbox/sandbox.h"
#include "sandbox/supervise.h"

namespace nagent::sandbox {

namespace {

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  int release() {
    int f = fd;
    fd = -1;
    return f;
  }
};

void make_pipe(Fd& read_end, Fd& write_end) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw SandboxError(std::string("pipe: ") + std::strerror(errno));
  read_end.fd = p[0];
  write_end.fd = p[1];
}

bool is_executable_file(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

class PlainRunner final : public Runner {
 public:
  Result run(const Command& cmd) override {
    if (cmd.argv.empty()) throw SandboxError("empty command: argv has no program");
    struct stat wd;
    if (!cmd.workdir.empty() && (::stat(cmd.workdir.c_str(), &wd) != 0 || !S_ISDIR(wd.st_mode)))
      throw SandboxError("workdir " + cmd.workdir + ": not a directory");
    const auto start = std::chrono::steady_clock::now();
    Result result;

    const char* host_path = std::getenv("PATH");
    auto env = build_environment(host_path ? host_path : "", cmd.workdir, {}, cmd.env);
    std::string program;
    for (const auto& candidate : executable_candidates(cmd.argv[0], env["PATH"])) {
      std::string at = candidate[0] == '/' || cmd.workdir.empty() ? candidate : cmd.workdir + "/" + candidate;
      if (is_executable_file(at)) {
        program = at;
        break;
      }
    }
    if (program.empty()) {
      result.exit_code = 127;
      result.stderr_data = "nagent sandbox: " + cmd.argv[0] + ": command not found\n";
      return result;
    }

    auto env_strings = environment_strings(env);
    std::vector<char*> envp, argv;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> args = cmd.argv;
    for (auto& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);

    Fd in_read, in_write, out_read, out_write, err_read, err_write;
    if (!cmd.passthrough_stdio) {
      if (cmd.stdin_data.empty()) {
        in_read.fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (in_read.fd < 0) throw SandboxError(std::string("open /dev/null: ") + std::strerror(errno));
      } else {
        make_pipe(in_read, in_write);
      }
      make_pipe(out_read, out_write);
      make_pipe(err_read, err_write);
    }

    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    if (!cmd.passthrough_stdio) {
      posix_spawn_file_actions_adddup2(&actions, in_read.fd, 0);
      posix_spawn_file_actions_adddup2(&actions, out_write.fd, 1);
      posix_spawn_file_actions_adddup2(&actions, err_write.fd, 2);
    }
    // Descriptors other threads opened without O_CLOEXEC must not leak into the child.
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    if (!cmd.workdir.empty()) posix_spawn_file_actions_addchdir_np(&actions, cmd.workdir.c_str());
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);  // its own group: the timeout kills the whole tree
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = -1;
    int err = ::posix_spawn(&pid, program.c_str(), &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (err != 0) {
      result.exit_code = 126;
      result.stderr_data = "nagent sandbox: " + program + ": " + std::strerror(err) + "\n";
      return result;
    }

    Child child;
    child.pid = pid;
    child.pidfd = open_pidfd(pid);
    if (child.pidfd < 0) {
      int e = errno;
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      throw SandboxError(std::string("pidfd_open: ") + std::strerror(e) + " (needs Linux 5.3 or newer)");
    }
    child.stdin_fd = in_write.release();
    child.stdout_fd = out_read.release();
    child.stderr_fd = err_read.release();
    // Close the child's ends here so EOF arrives when the child's side closes them.
    { Fd a(in_read.release()), b(out_write.release()), c(err_write.release()); }
    int status = supervise(child, cmd, [pid](int sig) { ::kill(-pid, sig); }, result);
    decode_wait_status(status, result);
    result.duration_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    return result;
  }

  std::string describe() const override {
    return "plain (policy none): own process group, scrubbed environment, timeout and output "
           "caps; no isolation";
  }
};

}  // namespace

std::unique_ptr<Runner> make_plain_runner() { return std::make_unique<PlainRunner>(); }

}  // namespace nagent::sandbox
