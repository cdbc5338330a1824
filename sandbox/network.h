// The network inside a sandbox without network access: a fresh network namespace whose
// only interface, loopback, is brought up (so programs that talk to themselves over
// 127.0.0.1, like test servers, still work while nothing outside is reachable).
#pragma once

#include "sandbox/child_report.h"

namespace nagent::sandbox {

// Child side (async-signal-safe), in the new network namespace, before capabilities are dropped.
bool bring_up_loopback(const ReportTo& report) noexcept;

}  // namespace nagent::sandbox
