#include "sandbox/process_limits.h"

namespace nagent::sandbox {

ProcessLimits::ProcessLimits(const Limits& l) {
  constexpr rlim_t kMiB = 1024 * 1024;
  entries_.push_back({RLIMIT_CORE, 0, "RLIMIT_CORE"});
  if (l.cpu_seconds) entries_.push_back({RLIMIT_CPU, l.cpu_seconds, "RLIMIT_CPU"});
  if (l.address_space_mb) entries_.push_back({RLIMIT_AS, l.address_space_mb * kMiB, "RLIMIT_AS"});
  if (l.file_size_mb) entries_.push_back({RLIMIT_FSIZE, l.file_size_mb * kMiB, "RLIMIT_FSIZE"});
  if (l.open_files) entries_.push_back({RLIMIT_NOFILE, l.open_files, "RLIMIT_NOFILE"});
  // Counts every process of the user, and root ignores it: the pids cgroup is the real
  // bound; this one still holds for an unprivileged host user.
  if (l.processes) entries_.push_back({RLIMIT_NPROC, l.processes, "RLIMIT_NPROC"});
}

bool ProcessLimits::apply(const ReportTo& report) const noexcept {
  for (const auto& e : entries_) {
    rlimit current;
    if (::getrlimit(e.resource, &current) != 0) return report.fail("getrlimit", e.name);
    // Never raise a limit the caller already has lower (an unprivileged caller could not).
    rlim_t value = current.rlim_max != RLIM_INFINITY && current.rlim_max < e.value ? current.rlim_max : e.value;
    rlimit r{value, value};
    if (::setrlimit(e.resource, &r) != 0) return report.fail("setrlimit", e.name);
  }
  return true;
}

}  // namespace nagent::sandbox
