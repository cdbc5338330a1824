// Runs one recipe session end to end, for `nagent run` and for `nagent serve` jobs: opens
// the workspace and its sandbox from the policy, builds the model backend, creates (or
// resumes) the session in the store, runs the recipe, and records how it ended.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "agent/session_store.h"
#include "engine/chat.h"

namespace nagent {

// Settings of a run, as recorded in the session's first event (so --resume needs none):
//   recipe (path), repo (absolute), task, test_cmd, policy, max_steps,
//   backend, endpoint, model, context_length
using RunSettings = json;

// Fills in defaults (repo = cwd, policy "default", max_steps 50), resolves the recipe
// path, and checks values; throws ConfigError naming the bad setting.
RunSettings complete_settings(RunSettings settings);
// The settings a session started with (its "session_start" event).
RunSettings recorded_settings(const std::vector<StoredEvent>& history);

struct SessionHooks {
  std::function<void(const StoredEvent&)> on_event;     // after each event is committed
  std::function<void(const ChatDelta&)> on_delta;       // streamed model output
  std::function<void(const std::string&)> on_output;    // the recipe's nagent.print
  std::function<void(const std::string&)> on_header;    // one line describing the run
  const std::atomic<bool>* cancel = nullptr;            // stops the run between steps
};

struct SessionResult {
  int exit_code = 0;        // 0 ok, 1 recipe failure or cancelled, 2 recipe/config error, 3 runtime error
  bool ok = false;
  bool cancelled = false;
  std::string summary;      // the recipe's summary, or the error
  int steps = 0;
  int64_t tokens = 0;
  double wall_s = 0;
  std::string diffstat;
};

// Runs (or with resume=true continues) session `id`. Configuration problems found before
// the session exists throw ConfigError; anything after is recorded and returned.
SessionResult run_session(SessionStore& store, const std::string& id, bool resume, RunSettings settings,
                          const SessionHooks& hooks);

}  // namespace nagent
