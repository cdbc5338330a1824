#include "sandbox/supervise.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace nagent::sandbox {

namespace {

using Clock = std::chrono::steady_clock;

// How often Command::cancel is looked at.
constexpr int kCancelPollMs = 50;

// After the main process exits, descendants that escaped the tree signal (a plain run's
// setsid) may still hold the pipes; this bounds how long we wait for them to close.
constexpr auto kDrainAfterExit = std::chrono::milliseconds(250);

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Reads what one poll reported readable; returns false at EOF or error.
bool read_stream(int fd, std::string& kept, uint64_t& dropped, uint64_t cap) {
  char buf[65536];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n <= 0) return false;
  uint64_t room = kept.size() < cap ? cap - kept.size() : 0;
  uint64_t keep = static_cast<uint64_t>(n) < room ? static_cast<uint64_t>(n) : room;
  kept.append(buf, keep);
  dropped += static_cast<uint64_t>(n) - keep;
  return true;
}

int ms_until(Clock::time_point t) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(t - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left) + 1;
}

// SIGPIPE is blocked in this thread while stdin is fed, so a child that stops reading
// gives EPIPE instead of killing the caller; a SIGPIPE left pending by that is consumed.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_);
  }
  ~SigpipeGuard() {
    sigset_t pending;
    sigpending(&pending);
    if (!was_pending_ && sigismember(&pending, SIGPIPE)) {
      sigset_t pipe_set;
      sigemptyset(&pipe_set);
      sigaddset(&pipe_set, SIGPIPE);
      timespec zero{0, 0};
      sigtimedwait(&pipe_set, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t old_;
  bool was_pending_ = false;
};

}  // namespace

int open_pidfd(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

void decode_wait_status(int status, Result& result) {
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
    result.signal = 0;
  } else if (WIFSIGNALED(status)) {
    result.exit_code = -1;
    result.signal = WTERMSIG(status);
  }
}

int supervise(Child& child, const Command& cmd, const SignalTree& signal_tree, Result& result) {
  SigpipeGuard sigpipe_guard;
  if (child.stdin_fd >= 0) ::fcntl(child.stdin_fd, F_SETFL, ::fcntl(child.stdin_fd, F_GETFL) | O_NONBLOCK);
  const auto start = Clock::now();
  const bool has_timeout = cmd.timeout_s > 0;
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(cmd.timeout_s));
  const auto grace = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(cmd.kill_grace_s > 0 ? cmd.kill_grace_s : 0));
  Clock::time_point kill_at{};  // set once SIGTERM has been sent
  Clock::time_point drain_until{};
  bool exited = false, killed = false;
  size_t stdin_off = 0;

  for (;;) {
    if (exited && child.stdout_fd < 0 && child.stderr_fd < 0) break;
    if (exited && Clock::now() >= drain_until) break;

    pollfd fds[4];
    int n = 0;
    int out_i = -1, err_i = -1, in_i = -1, pid_i = -1;
    if (child.stdout_fd >= 0) out_i = n, fds[n++] = {child.stdout_fd, POLLIN, 0};
    if (child.stderr_fd >= 0) err_i = n, fds[n++] = {child.stderr_fd, POLLIN, 0};
    if (child.stdin_fd >= 0) in_i = n, fds[n++] = {child.stdin_fd, POLLOUT, 0};
    if (!exited) pid_i = n, fds[n++] = {child.pidfd, POLLIN, 0};

    int wait_ms = -1;
    if (exited) {
      wait_ms = ms_until(drain_until);
    } else if (killed) {
      // waiting for the SIGKILLed tree to go
    } else if (kill_at != Clock::time_point{}) {
      wait_ms = ms_until(kill_at);
    } else if (has_timeout) {
      wait_ms = ms_until(deadline);
    }
    if (cmd.cancel && !exited && (wait_ms < 0 || wait_ms > kCancelPollMs)) wait_ms = kCancelPollMs;
    int ready = ::poll(fds, n, wait_ms);
    if (ready < 0 && errno != EINTR) throw SandboxError(std::string("poll: ") + std::strerror(errno));

    auto now = Clock::now();
    if (!exited && !killed) {
      if (kill_at != Clock::time_point{} && now >= kill_at) {
        signal_tree(SIGKILL);
        killed = true;
      } else if (kill_at == Clock::time_point{} &&
                 ((has_timeout && now >= deadline) || (cmd.cancel && cmd.cancel->load()))) {
        (has_timeout && now >= deadline ? result.timed_out : result.cancelled) = true;
        signal_tree(SIGTERM);
        kill_at = now + grace;
        if (grace.count() == 0) {
          signal_tree(SIGKILL);
          killed = true;
        }
      }
    }
    if (ready <= 0) continue;

    if (out_i >= 0 && fds[out_i].revents &&
        !read_stream(child.stdout_fd, result.stdout_data, result.stdout_dropped, cmd.output_cap_bytes))
      close_fd(child.stdout_fd);
    if (err_i >= 0 && fds[err_i].revents &&
        !read_stream(child.stderr_fd, result.stderr_data, result.stderr_dropped, cmd.output_cap_bytes))
      close_fd(child.stderr_fd);
    if (in_i >= 0 && fds[in_i].revents) {
      ssize_t w = (fds[in_i].revents & POLLOUT)
                      ? ::write(child.stdin_fd, cmd.stdin_data.data() + stdin_off,
                                cmd.stdin_data.size() - stdin_off)
                      : -1;
      if (w > 0) stdin_off += static_cast<size_t>(w);
      if ((w < 0 && errno != EINTR && errno != EAGAIN) || stdin_off == cmd.stdin_data.size())
        close_fd(child.stdin_fd);  // all fed, or the child closed its end: it sees EOF
    }
    if (pid_i >= 0 && (fds[pid_i].revents & POLLIN)) {
      exited = true;
      // The main process is gone but not yet reaped, so its pid (and process group id)
      // cannot have been reused: the tree signal still reaches only this run.
      signal_tree(SIGKILL);
      drain_until = Clock::now() + kDrainAfterExit;
      close_fd(child.stdin_fd);
    }
  }
  close_fd(child.stdin_fd);
  close_fd(child.stdout_fd);
  close_fd(child.stderr_fd);
  close_fd(child.pidfd);

  int status = 0;
  while (::waitpid(child.pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

}  // namespace nagent::sandbox
