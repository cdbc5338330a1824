// Settings of nagent serve: defaults, overridden by a JSON config file (--config FILE), then
// by flags. Secrets come only from the environment, never from the file or the command line
// (which other users of the machine can read).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "engine/chat.h"

namespace nagent::serve {

struct ServeConfig {
  std::string host = "127.0.0.1";
  int port = 8080;
  int workers = 2;                      // jobs run at once; 0: accept and queue only
  int http_threads = 16;                // connections served at once (SSE streams hold one each)
  std::string db;                       // SQLite store shared with sessions; "": SessionStore::default_path()
  std::string work_dir;                 // per-job workspace copies; "": <db dir>/serve-jobs
  int max_queue = 100;                  // queued jobs beyond which submissions get 429
  size_t max_body_bytes = 1 << 20;      // request bodies beyond it get 413
  int max_job_s = 3600;                 // a job's wall time before it is stopped and failed
  int max_steps = 50;                   // default and ceiling of a job's max_steps
  double rate_per_s = 20;               // API requests per second per token (token bucket) ...
  double rate_burst = 40;               // ... and its burst
  int callback_attempts = 5;            // POSTs of a callback before giving up
  double callback_backoff_s = 1;        // first retry delay; doubles each attempt
  std::string on_restart = "resume";    // jobs found running at start-up: "resume" | "fail"
  std::vector<std::string> repo_roots;  // local repositories must lie under one of these
  std::vector<std::string> repo_hosts;  // git URLs (https://HOST/...) may name these hosts
  std::vector<std::string> policies = {"default", "readonly", "build"};  // a job may choose
  std::string command_prefix = "/nagent";                                // comment commands: "/nagent fix ..."
  std::map<std::string, std::string> commands = {{"fix", "swe_fix"}, {"review", "review"}};
  std::string pull_request_recipe = "review";  // run on pull_request opened/synchronize
  std::vector<std::string> allowed_associations = {"OWNER", "MEMBER", "COLLABORATOR"};
  std::map<std::string, std::string> repos;  // "owner/name" (GitHub) or "group/project" (GitLab) -> repo
  // The model, as for nagent run (from NAGENT_ENDPOINT / NAGENT_MODEL unless set here).
  std::string backend, endpoint, model;

  // Secrets, from NAGENT_API_TOKEN, NAGENT_GITHUB_SECRET, NAGENT_GITLAB_TOKEN, NAGENT_CALLBACK_SECRET.
  std::string api_token, github_secret, gitlab_token, callback_secret;
};

// Applies a JSON object of settings (the config file's keys are the field names above);
// throws ConfigError naming the key for unknown keys or wrong types.
void apply_config_json(ServeConfig& config, const json& settings, const std::string& origin);
// Reads secrets and model settings from the environment, fills in derived paths, and checks
// the result; throws ConfigError with a one-line reason.
void finish_config(ServeConfig& config);

}  // namespace nagent::serve
