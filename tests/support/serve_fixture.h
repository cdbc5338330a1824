// Test helper: a real `nagent serve` child process on 127.0.0.1 (a free port), with its own
// NAGENT_HOME (store, job workspaces) and a repos/ root holding git copies of examples/,
// configured from a JSON object; plus an HTTP client for it and waiting helpers.
#pragma once

#include <httplib.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "engine/chat.h"
#include "support/child_process.h"
#include "support/temp_repo.h"

constexpr const char* kServeToken = "test-token-7f3a";
constexpr const char* kGithubSecret = "It's a Secret to Everybody";
constexpr const char* kGitlabToken = "gitlab-token-91b2";
constexpr const char* kCallbackSecret = "callback-secret-5d0e";

class ServeFixture {
 public:
  // config: settings written to the config file (repo_roots and db are filled in);
  // endpoint: the model server (the scripted test double), "" for none.
  explicit ServeFixture(nagent::json config = nagent::json::object(), std::string endpoint = "");
  ~ServeFixture();

  void start();          // starts the server and waits until /healthz answers
  ChildResult stop();    // SIGTERM, then wait
  void kill_hard();      // SIGKILL, then reap
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  std::filesystem::path home() const { return home_.path(); }
  std::filesystem::path db() const { return home_.path() / "sessions.db"; }
  // A fresh git repository from examples/<example> under the repos root.
  std::filesystem::path make_repo(const std::string& name, const std::string& example = "swe_basic");

  // An HTTP client with the bearer token (empty token: none).
  std::unique_ptr<httplib::Client> client(const std::string& token = kServeToken) const;
  // POST /v1/jobs with a JSON body.
  httplib::Result submit(const nagent::json& body) const;
  // GET /v1/jobs/ID, as JSON.
  nagent::json job(const std::string& id) const;
  // Polls until the job's status is finished (not queued or running); returns the job.
  nagent::json wait_finished(const std::string& id, double timeout_s = 120) const;

 private:
  TempDir home_{"serve"};
  nagent::json config_;
  std::string endpoint_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> child_;
};
