// The network inside a sandbox without network access: a fresh network namespace whose
// only interface, loopback, is brought up (so programs that talk to themselves over
// 127.0.0.1, like test servers, still work while nothing outside is reachable).
#pragma once

#include <string>

#include "sandbox/child_report.h"

namespace nagent::sandbox {

// Child side (async-signal-safe), in the new network namespace, before capabilities are dropped.
bool bring_up_loopback(const ReportTo& report) noexcept;

// A network namespace with loopback up, made once and held by the returned descriptor
// (-1 with *why on failure). Creating a network namespace costs far more than all the
// other namespaces together, so a runner makes one and each run enters it with setns.
// Runs of one runner therefore share a loopback (they could reach each other's
// listeners while running at the same time); runs of different runners never do.
int make_loopback_namespace(std::string* why);

}  // namespace nagent::sandbox
