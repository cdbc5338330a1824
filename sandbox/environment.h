// The environment a sandboxed program starts with: nothing from the host except what is
// named. Both runners build it here so `--policy none` and the isolating runner agree.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace nagent::sandbox {

// PATH used when the host has none (and the default PATH inside the isolating sandbox).
inline constexpr const char* kDefaultPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Base variables: PATH (path argument, or kDefaultPath when empty), HOME (home, or /tmp
// when empty), LANG/LC_ALL=C.UTF-8, TERM=dumb. Then each host variable named in
// allowed_host_vars that is set, then extra (Command::env), later entries winning.
std::map<std::string, std::string> build_environment(
    const std::string& path, const std::string& home,
    const std::vector<std::string>& allowed_host_vars,
    const std::map<std::string, std::string>& extra);

// "KEY=VALUE" strings, in the form execve wants (keep the vector alive while using it).
std::vector<std::string> environment_strings(const std::map<std::string, std::string>& env);

// The entries of a PATH-like list, in order (empty entries kept as "").
std::vector<std::string> split_path_list(const std::string& list);

// Absolute candidates for argv0 along path (argv0 itself when it contains a '/'), in
// lookup order: the spawner tries them in turn like execvp, but with the sandbox's PATH
// rather than the caller's.
std::vector<std::string> executable_candidates(const std::string& argv0, const std::string& path);

}  // namespace nagent::sandbox
