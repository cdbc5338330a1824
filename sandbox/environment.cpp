#include "sandbox/environment.h"

#include <cstdlib>

namespace nagent::sandbox {

std::map<std::string, std::string> build_environment(
    const std::string& path, const std::string& home,
    const std::vector<std::string>& allowed_host_vars,
    const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> env{
      {"PATH", path.empty() ? kDefaultPath : path},
      {"HOME", home.empty() ? "/tmp" : home},
      {"LANG", "C.UTF-8"},
      {"LC_ALL", "C.UTF-8"},
      {"TERM", "dumb"},
  };
  for (const auto& name : allowed_host_vars) {
    if (const char* value = std::getenv(name.c_str())) env[name] = value;
  }
  for (const auto& [key, value] : extra) env[key] = value;
  return env;
}

std::vector<std::string> environment_strings(const std::map<std::string, std::string>& env) {
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [key, value] : env) out.push_back(key + "=" + value);
  return out;
}

std::vector<std::string> split_path_list(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(':', start);
    if (end == std::string::npos) end = list.size();
    out.push_back(list.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::vector<std::string> executable_candidates(const std::string& argv0, const std::string& path) {
  if (argv0.find('/') != std::string::npos) return {argv0};
  std::vector<std::string> out;
  for (const auto& dir : split_path_list(path))
    out.push_back((dir.empty() ? "." : dir) + "/" + argv0);  // POSIX: "" is the current directory
  return out;
}

}  // namespace nagent::sandbox
