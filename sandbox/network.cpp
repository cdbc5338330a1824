#include "sandbox/network.h"

#include <net/if.h>
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

}  // namespace nagent::sandbox
