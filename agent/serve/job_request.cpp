#include "agent/serve/job_request.h"

#include <filesystem>
#include <regex>

#include "agent/errors.h"
#include "agent/runtime_paths.h"
#include "agent/serve/api_error.h"

namespace nagent::serve {
namespace {

namespace fs = std::filesystem;

bool is_url(const std::string& repo) { return repo.find("://") != std::string::npos; }

// A name, not a path: recipes and policies are the server's, never files a client points at.
bool plain_name(const std::string& s) {
  static const std::regex name("[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}");
  return std::regex_match(s, name) && s.find("..") == std::string::npos && !s.ends_with(".lua");
}

// An installed recipe only: NAME.lua in data_dir()/recipes, never a file of that name in the
// server's working directory (which nagent run's resolve_recipe would take first).
std::string installed_recipe(const std::string& name) {
  const fs::path file = fs::path(data_dir()) / "recipes" / (name + ".lua");
  std::error_code ec;
  if (fs::is_regular_file(file, ec)) return file.string();
  try {
    resolve_recipe(name);  // for its message listing the installed recipes
  } catch (const ConfigError& e) {
    throw ApiError(422, "unknown_recipe", e.what());
  }
  throw ApiError(422, "unknown_recipe", "recipe '" + name + "' is not installed in " + file.parent_path().string());
}

bool under(const fs::path& path, const fs::path& root) {
  auto [r, p] = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
  return r == root.end();
}

}  // namespace

std::string allowed_repo(const std::string& repo, const ServeConfig& config) {
  if (is_url(repo)) {
    static const std::regex url(R"(https://([A-Za-z0-9.-]+)(:[0-9]+)?/[A-Za-z0-9._~/-]+)");
    std::smatch m;
    if (!std::regex_match(repo, m, url))
      throw ApiError(422, "repo_not_allowed", "repo URL must look like https://HOST/PATH, got '" + repo + "'");
    if (std::find(config.repo_hosts.begin(), config.repo_hosts.end(), m[1].str()) == config.repo_hosts.end())
      throw ApiError(422, "repo_not_allowed", "repository host '" + m[1].str() + "' is not in repo_hosts");
    return repo;
  }
  std::error_code ec;
  fs::path canonical = fs::canonical(repo, ec);
  if (ec || !fs::is_directory(canonical))
    throw ApiError(422, "repo_not_found", "repository " + repo + " is not a directory on the server");
  bool allowed = false;
  for (const auto& root : config.repo_roots) allowed = allowed || under(canonical, root);
  if (!allowed) throw ApiError(422, "repo_not_allowed", "repository " + repo + " is outside the allowed repo_roots");
  if (!fs::exists(canonical / ".git", ec))
    throw ApiError(422, "repo_not_git", "repository " + repo + " is not a git repository (jobs work on a clone)");
  return canonical.string();
}

json validate_job_request(const json& request, const ServeConfig& config) {
  if (!request.is_object()) throw ApiError(400, "invalid_request", "the body must be a JSON object");
  json fields = json::object();
  static const std::vector<std::string> known = {"recipe", "repo",      "ref",          "task",           "test_cmd",
                                                 "policy", "max_steps", "callback_url", "idempotency_key"};
  for (const auto& [key, value] : request.items())
    if (std::find(known.begin(), known.end(), key) == known.end()) fields[key] = "unknown field";
  auto string_field = [&](const char* key, bool required, size_t max_len) -> std::string {
    if (!request.contains(key)) {
      if (required) fields[key] = "is required";
      return "";
    }
    const json& v = request[key];
    if (!v.is_string()) {
      fields[key] = "must be a string";
      return "";
    }
    std::string s = v.get<std::string>();
    if (required && s.empty()) fields[key] = "must not be empty";
    else if (s.size() > max_len) fields[key] = "is longer than " + std::to_string(max_len) + " bytes";
    return s;
  };
  std::string recipe = string_field("recipe", true, 64);
  std::string repo = string_field("repo", true, 4096);
  std::string ref = string_field("ref", false, 256);
  std::string task = string_field("task", true, 256 * 1024);
  std::string test_cmd = string_field("test_cmd", false, 4096);
  std::string policy = string_field("policy", false, 64);
  std::string callback = string_field("callback_url", false, 2048);
  std::string key = string_field("idempotency_key", false, 256);
  static const std::regex ref_shape("[A-Za-z0-9_][A-Za-z0-9_./-]*");
  if (!ref.empty() && (!std::regex_match(ref, ref_shape) || ref.find("..") != std::string::npos))
    fields["ref"] = "must be a branch, tag or commit name";
  static const std::regex http_url(R"(https?://[^\s/]+(/\S*)?)");
  if (!callback.empty() && !std::regex_match(callback, http_url))
    fields["callback_url"] = "must be an http:// or https:// URL";
  int64_t max_steps = config.max_steps;
  if (request.contains("max_steps")) {
    const json& v = request["max_steps"];
    if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > config.max_steps)
      fields["max_steps"] = "must be an integer from 1 to " + std::to_string(config.max_steps);
    else max_steps = v.get<int64_t>();
  }
  if (!recipe.empty() && !plain_name(recipe)) fields["recipe"] = "must be the name of an installed recipe";
  if (!fields.empty())
    throw ApiError(400, "invalid_request",
                   "invalid job request: " + fields.begin().key() + ": " + fields.begin().value().get<std::string>(),
                   fields);

  json spec = {{"task", task}, {"max_steps", max_steps}, {"policy", policy.empty() ? "default" : policy}};
  spec["recipe"] = installed_recipe(recipe);
  spec["recipe_name"] = recipe;
  if (std::find(config.policies.begin(), config.policies.end(), spec["policy"]) == config.policies.end())
    throw ApiError(422, "unknown_policy", "policy '" + policy + "' is not one this server allows");
  spec["repo"] = allowed_repo(repo, config);
  if (!ref.empty()) spec["ref"] = ref;
  if (!test_cmd.empty()) spec["test_cmd"] = test_cmd;
  if (!callback.empty()) {
    if (config.callback_secret.empty())
      throw ApiError(422, "callbacks_disabled", "this server has no NAGENT_CALLBACK_SECRET to sign callbacks with");
    spec["callback_url"] = callback;
  }
  if (!key.empty()) spec["idempotency_key"] = key;
  return spec;
}

}  // namespace nagent::serve
