// nagent sandbox [--policy NAME|FILE] [--workdir DIR] [--timeout S] [--verbose] -- CMD [ARGS...]
// Runs one command in the sandbox with the terminal's stdio, for trying and debugging
// policies the way one uses bwrap or nsjail.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <filesystem>

#include "agent/cli/arguments.h"
#include "agent/cli/command.h"
#include "agent/context/context_policy.h"
#include "sandbox/policy.h"

namespace nagent::cli {
namespace {

constexpr const char* kUsage = R"(usage: nagent sandbox [options] -- CMD [ARGS...]

Runs CMD inside the sandbox a policy describes, with this terminal's stdin/stdout/stderr,
and exits with its status. The workdir is the sandbox's workspace (bound read-write, or
read-only as the policy says); everything else of the host is hidden or read-only.

options:
  --policy NAME|FILE   default, readonly, build, none, or a policy file (default: default)
  --workdir DIR        the workspace and working directory (default: the current directory)
  --timeout SECONDS    kill the command and everything it started after this long (default: none)
  --verbose            print the sandbox's plan (namespaces, seccomp, cgroups, mounts, PATH)
                       before running, and the run's duration and notes after

exit codes: the command's own; 128+N when killed by signal N; 124 at the timeout;
            2 usage or policy error; 3 the sandbox could not start (the message says why)
)";

std::atomic<bool> g_interrupted{false};

void on_interrupt(int) { g_interrupted = true; }

int sandbox_main(const std::vector<std::string>& args) {
  Arguments a;
  try {
    a = parse_arguments(args, {"--policy", "--workdir", "--timeout"}, {"--verbose", "--help", "-h"});
  } catch (const UsageError& e) {
    return fail(kExitUsage, std::string(e.what()) + "\n" + kUsage);
  }
  if (a.has("--help") || a.has("-h")) {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  if (a.rest.empty() || !a.positional.empty())
    return fail(kExitUsage, std::string("give the command after --, e.g. nagent sandbox -- sh -c 'id'\n") + kUsage);

  sandbox::Policy policy;
  try {
    policy = sandbox::load_policy(a.get("--policy").value_or("default"));
    ContextPolicy::from_policy(policy, ContextPolicy{});  // its context table is checked here too
  } catch (const std::runtime_error& e) {
    return fail(kExitUsage, e.what());
  } catch (const std::invalid_argument& e) {
    return fail(kExitUsage, e.what());
  }
  std::error_code ec;
  std::string workdir = a.get("--workdir").value_or(std::filesystem::current_path(ec).string());
  if (!std::filesystem::is_directory(workdir, ec)) return fail(kExitUsage, "workdir " + workdir + " is not a directory");
  workdir = std::filesystem::canonical(workdir, ec).string();

  sandbox::Command cmd;
  cmd.argv = a.rest;
  cmd.workdir = workdir;
  long long timeout = 0;
  try {
    timeout = a.integer("--timeout", 0, 0, 7 * 24 * 3600);
  } catch (const UsageError& e) {
    return fail(kExitUsage, e.what());
  }
  cmd.timeout_s = static_cast<double>(timeout);
  cmd.passthrough_stdio = true;
  cmd.cancel = &g_interrupted;

  std::unique_ptr<sandbox::Runner> runner;
  sandbox::Result r;
  try {
    runner = sandbox::make_runner(policy, workdir);
    if (a.has("--verbose")) std::fprintf(stderr, "%s\n", runner->describe().c_str());
    // Ctrl-C stops the sandboxed command (which has its own session, so the terminal's
    // SIGINT does not reach it) the way the timeout does.
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
    r = runner->run(cmd);
  } catch (const sandbox::SandboxError& e) {
    return fail(kExitRuntime, e.what());
  }
  if (!r.note.empty()) std::fprintf(stderr, "nagent sandbox: %s\n", r.note.c_str());
  if (a.has("--verbose"))
    std::fprintf(stderr, "nagent sandbox: %s after %.1f ms\n",
                 r.timed_out ? "timed out" : r.cancelled ? "interrupted"
                 : r.signaled() ? ("killed by signal " + std::to_string(r.signal)).c_str()
                                : ("exit " + std::to_string(r.exit_code)).c_str(),
                 r.duration_ms);
  if (r.timed_out) return 124;
  if (r.signaled()) return 128 + r.signal;
  return r.exit_code;
}

const bool registered = register_command(
    {"sandbox", "run one command in the sandbox of a policy (to try and debug policies)", &sandbox_main});

}  // namespace
}  // namespace nagent::cli
