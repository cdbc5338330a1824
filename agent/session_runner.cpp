#include "agent/session_runner.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "agent/backend_factory.h"
#include "agent/errors.h"
#include "agent/recipe_runtime.h"
#include "agent/runtime_paths.h"
#include "agent/workspace_runner.h"
#include "nagent/version.h"

namespace nagent {
namespace {

namespace fs = std::filesystem;

int max_retries_from_env() {
  const std::string v = env_or("NAGENT_MAX_RETRIES", "");
  if (v.empty()) return -1;
  char* end = nullptr;
  long n = std::strtol(v.c_str(), &end, 10);
  if (*end != '\0' || n < 0 || n > 100)
    throw ConfigError("NAGENT_MAX_RETRIES must be an integer from 0 to 100, got '" + v + "'");
  return int(n);
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace

RunSettings complete_settings(RunSettings s) {
  if (!s.is_object()) throw ConfigError("run settings must be an object");
  if (!s.contains("repo") || s["repo"].get<std::string>().empty()) s["repo"] = fs::current_path().string();
  s["repo"] = fs::absolute(s["repo"].get<std::string>()).lexically_normal().string();
  if (!s.contains("policy")) s["policy"] = "default";
  if (!s.contains("max_steps")) s["max_steps"] = 50;
  if (!s["max_steps"].is_number_integer() || s["max_steps"].get<int64_t>() < 1)
    throw ConfigError("max_steps must be a positive integer");
  for (const char* key : {"endpoint", "model", "backend"})
    if (!s.contains(key)) s[key] = "";
  s["recipe"] = resolve_recipe(s.value("recipe", ""));
  return s;
}

RunSettings recorded_settings(const std::vector<StoredEvent>& history) {
  for (const auto& e : history)
    if (e.type == "session_start") return e.data.value("settings", json::object());
  return json::object();
}

SessionResult run_session(SessionStore& store, const std::string& id, bool resume, RunSettings settings,
                          const SessionHooks& hooks) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string recipe_path = settings["recipe"];
  BackendOptions backend_options{settings["backend"], settings["endpoint"], settings["model"],
                                 env_or("NAGENT_API_KEY", ""), settings.value("context_length", int64_t(0)),
                                 max_retries_from_env()};
  WorkspaceRunner workspace(settings["repo"], settings["policy"]);
  std::unique_ptr<Backend> backend = make_backend(backend_options);

  std::vector<StoredEvent> history;
  if (resume) {
    history = store.events(id);
    store.set_status(id, "running");
  } else {
    store.create_session({id, 0, 0, recipe_path, settings["repo"], settings.value("task", ""), "running", 0});
  }

  SessionResult result;
  auto count = [&](const StoredEvent& e) {
    if (e.type != "model_reply") return;
    ++result.steps;
    const json& u = e.data["usage"];
    result.tokens += u.value("prompt_tokens", int64_t(0)) + u.value("completion_tokens", int64_t(0));
  };
  for (const auto& e : history) count(e);  // totals include the runs before a resume
  Journal journal(store, id, std::move(history));
  journal.observe([&](const StoredEvent& e) {
    count(e);
    if (hooks.on_event) hooks.on_event(e);
  });
  if (hooks.on_header)
    hooks.on_header(std::string("nagent ") + NAGENT_VERSION + " · session " + id + " · " +
                    fs::path(recipe_path).stem().string() + " · " + backend->describe() + " · " +
                    first_line(workspace.runner().describe()));
  journal.record(resume ? "session_resume" : "session_start",
                 {{"settings", settings}, {"version", NAGENT_VERSION}, {"backend", backend->describe()}});

  ToolRegistry tools = workspace.allowed_tools().empty() ? builtin_tools()
                                                         : builtin_tools().subset(workspace.allowed_tools());
  ToolContext context{workspace.workspace(), workspace.runner(), settings.value("test_cmd", "")};
  AgentConfig defaults;
  defaults.max_steps = settings["max_steps"].get<int>();
  defaults.context = workspace.context_defaults();  // a recipe's context = {...} overrides these
  RecipeHost host{*backend, tools, context, journal, defaults, AgentHooks{hooks.on_delta, hooks.cancel},
                  [&](const std::string& text) {
                    journal.record("output", {{"text", text}});
                    if (hooks.on_output) hooks.on_output(text);
                  },
                  nullptr,
                  settings.value("out", (fs::path(SessionStore::default_path()).parent_path() / "reports" / id).string())};

  std::string error;
  RecipeOutcome outcome;
  try {
    outcome = run_recipe(recipe_path, settings, host);
    result.exit_code = outcome.ok ? 0 : 1;
  } catch (const Cancelled&) {
    result.cancelled = true;
    result.exit_code = 1;
    error = "cancelled";
  } catch (const RecipeError& e) {
    error = e.what();
    result.exit_code = 2;
  } catch (const std::exception& e) {
    // Backend, sandbox or store failure: recorded (if the store still works), resumable.
    error = std::string(e.what()) + " (session saved: continue with nagent run --resume " + id + ")";
    result.exit_code = 3;
  }
  result.ok = outcome.ok && error.empty();
  result.summary = error.empty() ? outcome.summary : error;
  result.diffstat = workspace.diff_stat();
  result.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  journal.record("session_end", {{"ok", result.ok},
                                 {"exit_code", result.exit_code},
                                 {"cancelled", result.cancelled},
                                 {"summary", result.summary},
                                 {"steps", result.steps},
                                 {"tokens", result.tokens},
                                 {"wall_s", result.wall_s},
                                 {"diffstat", result.diffstat}});
  store.set_status(id, result.cancelled         ? "cancelled"
                       : result.exit_code == 0 ? "succeeded"
                       : result.exit_code == 1 ? "failed"
                                               : "error");
  return result;
}

}  // namespace nagent
