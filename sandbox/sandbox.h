// The sandbox interface: run one program with limits and captured output. Every tool that
// executes programs (shell, run_tests, Lua tool handlers) goes through a Runner.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace nagent::sandbox {

struct Command {
  std::vector<std::string> argv;            // argv[0] is looked up on the sandbox PATH
  std::string workdir;                      // absolute host path; the workspace
  std::map<std::string, std::string> env;   // added to the policy's allowed environment
  std::string stdin_data;                   // fed to stdin, then closed
  double timeout_s = 120;                   // wall clock; the whole process tree is killed
                                            // (<= 0: no timeout)
  uint64_t output_cap_bytes = 4u << 20;     // per stream; beyond it bytes are counted, not kept
  double kill_grace_s = 2;                  // after the timeout's SIGTERM, SIGKILL follows
  bool passthrough_stdio = false;           // the caller's stdin/stdout/stderr, not captured
                                            // (stdin_data and the caps are then unused)
  const std::atomic<bool>* cancel = nullptr;  // when it becomes true (e.g. on Ctrl-C), the
                                              // run is stopped as at the timeout
};

struct Result {
  int exit_code = -1;        // valid when !signaled
  int signal = 0;            // terminating signal, 0 if exited
  bool timed_out = false;
  bool cancelled = false;    // stopped through Command::cancel
  std::string stdout_data;
  std::string stderr_data;
  uint64_t stdout_dropped = 0;  // bytes beyond the cap
  uint64_t stderr_dropped = 0;
  double duration_ms = 0;
  std::string note;          // e.g. which limits could not be applied on this host
  bool ok() const { return !signaled() && !timed_out && !cancelled && exit_code == 0; }
  bool signaled() const { return signal != 0; }
};

// Thrown when the sandbox itself cannot start a command (as opposed to the command failing).
struct SandboxError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Runner {
 public:
  virtual ~Runner() = default;
  virtual Result run(const Command& cmd) = 0;
  virtual std::string describe() const = 0;
};

// No isolation beyond its own process group: a scrubbed environment, a timeout that kills
// the whole group, output caps. What `--policy none` gives; every other policy goes through
// the isolating runner (sandbox/policy.h).
std::unique_ptr<Runner> make_plain_runner();

}  // namespace nagent::sandbox
