// Policies: what a sandboxed command may see and do, read from Lua tables in policies/
// (docs/sandbox.md describes every key). make_runner() turns one into a Runner.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sandbox/sandbox.h"

namespace nagent::sandbox {

// A host path made visible inside the sandbox at the same path.
struct Bind {
  std::string path;       // absolute; "~/x" in a policy file is expanded to the host HOME
  bool writable = false;
  bool optional = false;  // a missing path is skipped instead of refusing to start
};

// 0 means "no limit" for every field.
struct Limits {
  uint64_t cpu_seconds = 0;       // RLIMIT_CPU, per process
  uint64_t address_space_mb = 0;  // RLIMIT_AS, per process
  uint64_t file_size_mb = 0;      // RLIMIT_FSIZE: largest file a process may write
  uint64_t open_files = 0;        // RLIMIT_NOFILE
  uint64_t processes = 0;         // cgroup pids.max for the whole run (and RLIMIT_NPROC)
  uint64_t memory_mb = 0;         // cgroup memory limit for the whole run
  uint64_t cpu_percent = 0;       // cgroup CPU quota for the whole run; 200 = two cores
};

// Mechanisms a policy accepts running without when the host cannot provide them. Each
// defaults to false: a missing mechanism makes the runner refuse, naming the setting.
struct AllowWithout {
  bool namespaces = false;  // no mount/PID/network/IPC/UTS namespaces: no filesystem view
  bool seccomp = false;     // no syscall filter
  bool cgroups = false;     // no memory/pids/CPU cgroup; rlimits only (noted in each result)
};

// One policy file's `context` table: defaults for the agent's context layer (window,
// threshold, strategy, ...), kept as written. The sandbox only checks its shape (named
// numbers, strings or booleans); agent/context/context_policy (ContextPolicy::from_policy)
// checks the settings themselves and names this file in its errors.
struct ContextSettings {
  std::string file;                // the policy file the table is in
  nlohmann::ordered_json settings;  // {"threshold": 0.7, "strategy": "elide", ...}
};

struct Policy {
  std::string name;         // "default", or the file's stem
  std::string source;       // the file it was read from ("" for the built-in "none")
  std::string description;
  bool isolate = true;      // false only for "none": make_runner() gives the plain runner
  bool workspace_writable = true;
  bool git_writable = false;        // .git of the workspace
  bool network = false;             // false: empty network namespace with loopback only
  bool toolchains = true;           // bind the toolchains found on the host PATH read-only
  std::vector<Bind> binds;          // in addition to the workspace, /tmp, /dev and /proc
  std::string seccomp = "default";  // profile: "default" or "none"
  std::vector<std::string> seccomp_deny;  // extra syscalls denied with EPERM
  Limits limits;
  uint64_t tmp_size_mb = 512;       // the private /tmp (a tmpfs)
  std::vector<std::string> env;     // host variables passed through (PATH/HOME/LANG/TERM are set)
  std::map<std::string, std::string> set_env;  // variables set inside
  std::vector<std::string> tools;   // tools an agent may use; empty = all
  AllowWithout allow_without;
  // The `context` tables of the policies this one extends and of itself, base first; each
  // file's settings override the ones before it, key by key.
  std::vector<ContextSettings> context;
};

// A name looks for NAME.lua in $NAGENT_DATA_DIR/policies (default: NAGENT_DEFAULT_DATA_DIR);
// anything containing '/' or ending in .lua is a file path. "none" is built in: no
// isolation (the plain runner), chosen explicitly. Throws std::runtime_error naming the
// file, the key and the reason on bad input.
Policy load_policy(const std::string& name_or_path);

// The runner for a policy; the workspace is bound at its own path inside. Prepares what
// can be prepared once (seccomp program, filesystem plan, cgroups). Throws SandboxError
// when the host lacks a mechanism the policy does not allow doing without.
std::unique_ptr<Runner> make_runner(const Policy& policy, const std::string& workspace_root);

}  // namespace nagent::sandbox
