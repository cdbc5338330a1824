// Error kinds that decide nagent's exit code: a ConfigError (bad flag value, missing
// endpoint, unknown policy) exits 2; BackendError, SandboxError and StoreError exit 3.
#pragma once

#include <stdexcept>

namespace nagent {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A run stopped because its host asked it to (a cancelled job).
struct Cancelled : std::runtime_error {
  Cancelled() : std::runtime_error("cancelled") {}
};

}  // namespace nagent
