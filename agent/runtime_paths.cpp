#include "agent/runtime_paths.h"

#include <cstdlib>
#include <filesystem>

#include "agent/errors.h"
#include "nagent/version.h"

namespace nagent {

namespace fs = std::filesystem;

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

std::string data_dir() {
  const char* dir = std::getenv("NAGENT_DATA_DIR");
  return dir && *dir ? dir : NAGENT_DEFAULT_DATA_DIR;
}

std::string default_model_dir() { return env_or("NAGENT_DEFAULT_MODEL", data_dir() + "/models/nagent-default"); }

std::string resolve_recipe(const std::string& name_or_path) {
  if (name_or_path.empty()) throw ConfigError("no recipe given, e.g. nagent run swe_fix");
  std::error_code ec;
  if (fs::is_regular_file(name_or_path, ec)) return fs::absolute(name_or_path).lexically_normal().string();
  const fs::path shipped = fs::path(data_dir()) / "recipes";
  for (const fs::path& candidate : {shipped / name_or_path, shipped / (name_or_path + ".lua")})
    if (name_or_path.find('/') == std::string::npos && fs::is_regular_file(candidate, ec)) return candidate.string();
  std::string known;
  for (const auto& entry : fs::directory_iterator(shipped, ec))
    if (entry.path().extension() == ".lua") known += (known.empty() ? "" : ", ") + entry.path().stem().string();
  throw ConfigError("recipe '" + name_or_path + "' not found: not a file, and not one of the shipped recipes (" +
                    (known.empty() ? "none found in " + shipped.string() : known) + ")");
}

}  // namespace nagent
