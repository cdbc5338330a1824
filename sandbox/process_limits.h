// Per-process resource limits (setrlimit) derived from a policy's Limits; set in the
// sandbox's init so that every process of the run inherits them.
#pragma once

#include <sys/resource.h>

#include <vector>

#include "sandbox/child_report.h"
#include "sandbox/policy.h"

namespace nagent::sandbox {

class ProcessLimits {
 public:
  explicit ProcessLimits(const Limits& limits);
  // Child side (async-signal-safe). Core dumps are always off.
  bool apply(const ReportTo& report) const noexcept;

 private:
  struct Entry {
    int resource;
    rlim_t value;
    const char* name;
  };
  std::vector<Entry> entries_;
};

}  // namespace nagent::sandbox
