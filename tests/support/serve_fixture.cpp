#include "support/serve_fixture.h"

#include <signal.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#include "support/loopback_listener.h"

using nagent::json;

ServeFixture::ServeFixture(json config, std::string endpoint) : config_(std::move(config)), endpoint_(std::move(endpoint)) {
  std::filesystem::create_directories(home_.path() / "repos");
  if (!config_.contains("repo_roots")) config_["repo_roots"] = {(home_.path() / "repos").string()};
  config_["db"] = db().string();
  port_ = LoopbackListener().port();  // a free port, released for the server to take
}

ServeFixture::~ServeFixture() = default;

std::filesystem::path ServeFixture::make_repo(const std::string& name, const std::string& example) {
  std::filesystem::path dir = home_.path() / "repos" / name;
  make_example_repo(example, dir);
  return dir;
}

void ServeFixture::start() {
  write_text(home_.path() / "serve.json", config_.dump(2));
  std::map<std::string, std::string> env = {{"NAGENT_HOME", home_.str()},
                                            {"NAGENT_API_TOKEN", kServeToken},
                                            {"NAGENT_GITHUB_SECRET", kGithubSecret},
                                            {"NAGENT_GITLAB_TOKEN", kGitlabToken},
                                            {"NAGENT_CALLBACK_SECRET", kCallbackSecret},
                                            {"NAGENT_ENDPOINT", endpoint_},
                                            {"NAGENT_MODEL", "scripted-model"},
                                            {"NAGENT_MAX_RETRIES", "1"},
                                            {"NAGENT_DATA_DIR", NAGENT_SOURCE_DIR}};
  child_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{NAGENT_BINARY, "serve", "--listen", "127.0.0.1:" + std::to_string(port_), "--config",
                               (home_.path() / "serve.json").string()},
      env);
  httplib::Client probe(base_url());
  probe.set_connection_timeout(1);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto r = probe.Get("/healthz"); r && r->status == 200) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ChildResult r = stop();
  throw std::runtime_error("nagent serve did not come up: " + r.err);
}

ChildResult ServeFixture::stop() {
  if (!child_) return {};
  ::kill(child_->pid(), SIGTERM);
  ChildResult r = child_->wait(60);
  child_.reset();
  return r;
}

void ServeFixture::kill_hard() {
  child_->kill_hard();
  child_->wait(30);
  child_.reset();
}

std::unique_ptr<httplib::Client> ServeFixture::client(const std::string& token) const {
  auto c = std::make_unique<httplib::Client>(base_url());
  c->set_read_timeout(30);
  if (!token.empty()) c->set_default_headers({{"Authorization", "Bearer " + token}});
  return c;
}

httplib::Result ServeFixture::submit(const json& body) const {
  return client()->Post("/v1/jobs", body.dump(), "application/json");
}

json ServeFixture::job(const std::string& id) const {
  auto r = client()->Get("/v1/jobs/" + id);
  if (!r || r->status != 200) throw std::runtime_error("GET /v1/jobs/" + id + " failed");
  return json::parse(r->body);
}

json ServeFixture::wait_finished(const std::string& id, double timeout_s) const {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (true) {
    json j = job(id);
    if (j["status"] != "queued" && j["status"] != "running") return j;
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("job " + id + " still " + j["status"].get<std::string>() + " after the timeout");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}
