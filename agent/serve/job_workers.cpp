#include "agent/serve/job_workers.h"

#include <cstdio>

#include "agent/errors.h"
#include "agent/serve/job_workspace.h"
#include "agent/session_runner.h"

namespace nagent::serve {

JobWorkers::JobWorkers(const ServeConfig& config, JobStore& store, ChangeSignal& changes, Metrics& metrics,
                       CallbackSender& callbacks)
    : config_(config), store_(store), changes_(changes), metrics_(metrics), callbacks_(callbacks) {
  for (int i = 0; i < config.workers; ++i) threads_.emplace_back([this] { work(); });
  watchdog_ = std::thread([this] { watch(); });
}

JobWorkers::~JobWorkers() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (auto& [id, r] : running_) *r.cancel = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  watchdog_.join();
}

void JobWorkers::wake() { cv_.notify_all(); }

bool JobWorkers::cancel(const std::string& job_id) {
  std::lock_guard lock(mutex_);
  auto it = running_.find(job_id);
  if (it == running_.end()) return false;
  *it->second.cancel = true;
  return true;
}

void JobWorkers::work() {
  while (true) {
    {
      std::unique_lock lock(mutex_);
      if (stopping_) return;
    }
    std::optional<Job> job;
    try {
      job = store_.claim_next();
    } catch (const std::exception&) {
      // The store is busy or failing: try again shortly rather than lose the worker.
    }
    if (!job) {
      std::unique_lock lock(mutex_);
      cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; });
      continue;
    }
    changes_.notify();
    try {
      run(*job);
    } catch (const std::exception& e) {
      // Recording the end failed (the store): the job stays running in the store and is
      // settled by on_restart at the next start; this worker goes on.
      std::fprintf(stderr, "nagent serve: job %s: %s\n", job->id.c_str(), e.what());
    }
    changes_.notify();
  }
}

void JobWorkers::run(const Job& job) {
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  {
    std::lock_guard lock(mutex_);
    running_[job.id] = {cancel, std::chrono::steady_clock::now(), false};
  }
  std::string status = "failed", summary, patch;
  SessionResult result;
  try {
    const std::string workspace = prepare_job_workspace(job.id, job.spec, config_.work_dir);
    RunSettings settings = {{"recipe", job.spec.at("recipe")},       {"repo", workspace},
                            {"task", job.spec.at("task")},           {"policy", job.spec.at("policy")},
                            {"max_steps", job.spec.at("max_steps")}, {"backend", config_.backend},
                            {"endpoint", config_.endpoint},          {"model", config_.model}};
    if (job.spec.contains("test_cmd")) settings["test_cmd"] = job.spec.at("test_cmd");
    settings = complete_settings(std::move(settings));
    SessionStore sessions(config_.db, SessionStore::durability_from_env());
    SessionHooks hooks;
    hooks.on_event = [&](const StoredEvent& e) {
      metrics_.observe_event(e);
      changes_.notify();
    };
    hooks.cancel = cancel.get();
    result = run_session(sessions, job.id, job.has_session, settings, hooks);
    patch = job_workspace_patch(workspace);
    summary = result.summary;
    status = result.cancelled ? "cancelled" : result.ok ? "succeeded" : "failed";
    if (result.exit_code == 3) metrics_.count_job_runtime_error();
  } catch (const ConfigError& e) {
    summary = e.what();  // bad settings, no model configured: the job fails, named
    result.exit_code = 2;
  } catch (const std::exception& e) {
    summary = e.what();  // the clone failed, the store failed
    result.exit_code = 3;
    metrics_.count_job_runtime_error();
  }
  bool timed_out = false;
  {
    std::lock_guard lock(mutex_);
    timed_out = running_[job.id].timed_out;
    running_.erase(job.id);
    if (stopping_ && result.cancelled) return;  // shutting down: left running, resumed at the next start
  }
  if (timed_out) {
    status = "failed";
    summary = "stopped after max_job_s (" + std::to_string(config_.max_job_s) + " s)";
  }
  const json report = {{"status", status},
                       {"ok", status == "succeeded"},
                       {"summary", summary},
                       {"recipe", job.spec.value("recipe_name", "")},
                       {"steps", result.steps},
                       {"tokens", result.tokens},
                       {"wall_s", result.wall_s},
                       {"diffstat", result.diffstat},
                       {"exit_code", result.exit_code}};
  store_.finish(job.id, status, summary, result.steps, result.tokens, patch, report);
  if (job.spec.contains("callback_url")) callbacks_.schedule(job.id);
}

void JobWorkers::watch() {
  const auto limit = std::chrono::seconds(config_.max_job_s);
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::milliseconds(500));
    const auto now = std::chrono::steady_clock::now();
    for (auto& [id, r] : running_)
      if (!r.timed_out && now - r.started > limit) {
        r.timed_out = true;
        *r.cancel = true;
      }
  }
}

}  // namespace nagent::serve
