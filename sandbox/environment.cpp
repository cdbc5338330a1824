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

std::vector<std::string> executable_candidates(const std::string& argv0, const std::string& path) {
  if (argv0.find('/') != std::string::npos) return {argv0};
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    if (dir.empty()) dir = ".";  // POSIX: an empty PATH entry is the current directory
    out.push_back(dir + "/" + argv0);
    start = end + 1;
  }
  return out;
}

}  // namespace nagent::sandbox
