#include "sandbox/network.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace nagent::sandbox {

bool bring_up_loopback(const ReportTo& report) noexcept {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return report.fail("socket for loopback");
  ifreq req;
  std::memset(&req, 0, sizeof req);
  std::strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
  req.ifr_flags = IFF_UP | IFF_RUNNING;
  bool ok = ::ioctl(fd, SIOCSIFFLAGS, &req) == 0;
  int err = errno;
  ::close(fd);
  errno = err;
  return ok || report.fail("bring up loopback", "lo");
}

int make_loopback_namespace(std::string* why) {
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) {
    *why = std::string("pipe: ") + std::strerror(errno);
    return -1;
  }
  pid_t pid = static_cast<pid_t>(::syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0));
  if (pid == 0) {
    // Tell the parent whether loopback came up, then wait to be killed.
    ::close(ready[0]);
    char ok = bring_up_loopback(ReportTo{-1}) ? 1 : 0;
    ssize_t unused = ::write(ready[1], &ok, 1);
    (void)unused;
    for (;;) ::pause();
  }
  ::close(ready[1]);
  int fd = -1;
  if (pid < 0) {
    *why = std::string("clone(CLONE_NEWNET): ") + std::strerror(errno);
  } else {
    char ok = 0;
    if (::read(ready[0], &ok, 1) == 1 && ok) {
      std::string path = "/proc/" + std::to_string(pid) + "/ns/net";
      fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) *why = "open " + path + ": " + std::strerror(errno);
    } else {
      *why = "cannot bring up loopback in a new network namespace";
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  ::close(ready[0]);
  return fd;
}

}  // namespace nagent::sandbox
