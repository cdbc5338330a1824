#include "agent/serve/serve_config.h"

#include <filesystem>

#include "agent/errors.h"
#include "agent/runtime_paths.h"
#include "agent/session_store.h"

namespace nagent::serve {
namespace {

namespace fs = std::filesystem;

template <typename T>
void read_into(const json& settings, const char* key, T& out, const std::string& origin) {
  if (!settings.contains(key)) return;
  try {
    out = settings.at(key).get<T>();
  } catch (const json::exception&) {
    throw ConfigError(origin + ": '" + key + "' has the wrong type (" + settings.at(key).dump() + ")");
  }
}

}  // namespace

void apply_config_json(ServeConfig& c, const json& s, const std::string& origin) {
  if (!s.is_object()) throw ConfigError(origin + ": the configuration must be a JSON object");
  static const std::vector<std::string> known = {
      "host", "port", "workers", "http_threads", "db", "work_dir", "max_queue", "max_body_bytes", "max_job_s",
      "max_steps", "rate_per_s", "rate_burst", "callback_attempts", "callback_backoff_s", "on_restart",
      "repo_roots", "repo_hosts", "policies", "command_prefix", "commands", "pull_request_recipe",
      "allowed_associations", "repos", "backend", "endpoint", "model"};
  for (const auto& [key, value] : s.items())
    if (std::find(known.begin(), known.end(), key) == known.end())
      throw ConfigError(origin + ": unknown setting '" + key + "'");
  read_into(s, "host", c.host, origin);
  read_into(s, "port", c.port, origin);
  read_into(s, "workers", c.workers, origin);
  read_into(s, "http_threads", c.http_threads, origin);
  read_into(s, "db", c.db, origin);
  read_into(s, "work_dir", c.work_dir, origin);
  read_into(s, "max_queue", c.max_queue, origin);
  read_into(s, "max_body_bytes", c.max_body_bytes, origin);
  read_into(s, "max_job_s", c.max_job_s, origin);
  read_into(s, "max_steps", c.max_steps, origin);
  read_into(s, "rate_per_s", c.rate_per_s, origin);
  read_into(s, "rate_burst", c.rate_burst, origin);
  read_into(s, "callback_attempts", c.callback_attempts, origin);
  read_into(s, "callback_backoff_s", c.callback_backoff_s, origin);
  read_into(s, "on_restart", c.on_restart, origin);
  read_into(s, "repo_roots", c.repo_roots, origin);
  read_into(s, "repo_hosts", c.repo_hosts, origin);
  read_into(s, "policies", c.policies, origin);
  read_into(s, "command_prefix", c.command_prefix, origin);
  read_into(s, "commands", c.commands, origin);
  read_into(s, "pull_request_recipe", c.pull_request_recipe, origin);
  read_into(s, "allowed_associations", c.allowed_associations, origin);
  read_into(s, "repos", c.repos, origin);
  read_into(s, "backend", c.backend, origin);
  read_into(s, "endpoint", c.endpoint, origin);
  read_into(s, "model", c.model, origin);
}

void finish_config(ServeConfig& c) {
  c.api_token = env_or("NAGENT_API_TOKEN", "");
  c.github_secret = env_or("NAGENT_GITHUB_SECRET", "");
  c.gitlab_token = env_or("NAGENT_GITLAB_TOKEN", "");
  c.callback_secret = env_or("NAGENT_CALLBACK_SECRET", "");
  if (c.api_token.empty()) throw ConfigError("set NAGENT_API_TOKEN: the bearer token clients of the API must send");
  if (c.endpoint.empty()) c.endpoint = env_or("NAGENT_ENDPOINT", "");
  if (c.model.empty()) c.model = env_or("NAGENT_MODEL", "");
  if (c.port < 0 || c.port > 65535) throw ConfigError("port must be from 0 to 65535");
  if (c.workers < 0 || c.workers > 256) throw ConfigError("workers must be from 0 to 256");
  if (c.http_threads < 2 || c.http_threads > 1024) throw ConfigError("http_threads must be from 2 to 1024");
  if (c.max_queue < 1) throw ConfigError("max_queue must be at least 1");
  if (c.max_body_bytes < 1024) throw ConfigError("max_body_bytes must be at least 1024");
  if (c.max_job_s < 1) throw ConfigError("max_job_s must be at least 1");
  if (c.max_steps < 1) throw ConfigError("max_steps must be at least 1");
  if (c.rate_per_s <= 0 || c.rate_burst < 1) throw ConfigError("rate_per_s must be > 0 and rate_burst >= 1");
  if (c.callback_attempts < 1) throw ConfigError("callback_attempts must be at least 1");
  if (c.on_restart != "resume" && c.on_restart != "fail")
    throw ConfigError("on_restart must be 'resume' or 'fail', got '" + c.on_restart + "'");
  for (const auto& policy : c.policies)
    if (policy == "none" || policy.find('/') != std::string::npos || policy.ends_with(".lua"))
      throw ConfigError("policies: '" + policy +
                        "' is not allowed: jobs run sandboxed, under a policy named in policies/");
  if (c.db.empty()) c.db = SessionStore::default_path();
  if (c.work_dir.empty()) c.work_dir = (fs::absolute(c.db).parent_path() / "serve-jobs").string();
  for (auto& root : c.repo_roots) {
    std::error_code ec;
    fs::path canonical = fs::canonical(root, ec);
    if (ec) throw ConfigError("repo_roots: " + root + " does not exist");
    root = canonical.string();
  }
  std::error_code ec;
  fs::create_directories(c.work_dir, ec);
  if (ec) throw ConfigError("cannot create work_dir " + c.work_dir + ": " + ec.message());
}

}  // namespace nagent::serve
