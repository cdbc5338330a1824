// Dropping privileges in a sandbox child: every capability (effective, permitted,
// inheritable, ambient and the bounding set, so exec as uid 0 gains none back), the
// securebits locked, and no_new_privs so setuid binaries gain nothing either.
#pragma once

#include "sandbox/child_report.h"

namespace nagent::sandbox {

// Child side (async-signal-safe).
bool drop_privileges(const ReportTo& report) noexcept;

}  // namespace nagent::sandbox
