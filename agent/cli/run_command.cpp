// nagent run RECIPE.lua [--repo DIR] [--task TEXT | --task-file FILE] [--test-cmd CMD]
//   [--endpoint URL] [--model NAME] [--backend openai|local] [--max-steps N] [--policy NAME|FILE]
//   [--session ID] [--resume ID] [--json] [--quiet]
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/backend_factory.h"
#include "agent/cli/arguments.h"
#include "agent/cli/command.h"
#include "agent/errors.h"
#include "agent/progress.h"
#include "agent/recipe_runtime.h"
#include "agent/runtime_paths.h"
#include "agent/session_store.h"
#include "agent/workspace_runner.h"
#include "nagent/version.h"

namespace nagent::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kUsage = R"(usage: nagent run RECIPE [options]

Runs a Lua recipe (a file, or the name of one in recipes/, e.g. swe_fix) on a repository.

options:
  --repo DIR           the repository to work on (default: the current directory)
  --task TEXT          the task, e.g. an issue text
  --task-file FILE     read the task from FILE
  --test-cmd CMD       the command that runs the tests (default: detected from the repo)
  --endpoint URL       OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 (env NAGENT_ENDPOINT)
  --model NAME         model name on the server, or a model directory with --backend local (env NAGENT_MODEL)
  --backend KIND       openai | local (default: openai when an endpoint is set)
  --context-length N   the model's context window in tokens (default: from the server)
  --max-steps N        model turns per agent (default 50)
  --policy NAME|FILE   sandbox policy for tools that run programs (default: default)
  --session ID         name the new session (default: a timestamped id)
  --resume ID          continue an interrupted session where it stopped
  --json               print every event as a JSON line on stdout
  --quiet              no progress on stderr

environment: NAGENT_ENDPOINT, NAGENT_MODEL, NAGENT_API_KEY, NAGENT_HOME (default ~/.nagent),
             NAGENT_MAX_RETRIES (model request retries, default 5),
             NAGENT_DURABILITY (normal: commit each event; full: also fsync each event)
exit codes: 0 success, 1 the recipe reported failure, 2 usage or configuration error, 3 runtime error
)";

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

std::string read_text_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(std::string("cannot read ") + what + " " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The run's settings: from the flags, or on --resume from the session's first event with
// the flags given now taking precedence.
json run_settings(const Arguments& a, const json& recorded) {
  json s = recorded.is_object() ? recorded : json::object();
  auto set = [&](const char* key, const std::optional<std::string>& v) {
    if (v) s[key] = *v;
  };
  if (!a.positional.empty()) s["recipe"] = a.positional[0];
  set("repo", a.get("--repo"));
  set("task", a.get("--task"));
  if (auto f = a.get("--task-file")) s["task"] = read_text_file(*f, "task file");
  set("test_cmd", a.get("--test-cmd"));
  set("policy", a.get("--policy"));
  if (a.get("--max-steps")) s["max_steps"] = a.integer("--max-steps", 50, 1, 100000);
  return s;
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

int max_retries_from_env() {
  const std::string v = env_or("NAGENT_MAX_RETRIES", "");
  if (v.empty()) return -1;
  char* end = nullptr;
  long n = std::strtol(v.c_str(), &end, 10);
  if (*end != '\0' || n < 0 || n > 100) throw ConfigError("NAGENT_MAX_RETRIES must be an integer from 0 to 100, got '" + v + "'");
  return int(n);
}

struct RunTotals {
  int steps = 0;
  int64_t tokens = 0;
};

int run_main(const std::vector<std::string>& argv) {
  Arguments a;
  try {
    a = parse_arguments(argv,
                        {"--repo", "--task", "--task-file", "--test-cmd", "--endpoint", "--model", "--backend",
                         "--context-length", "--max-steps", "--policy", "--session", "--resume"},
                        {"--json", "--quiet", "--help", "-h"});
  } catch (const UsageError& e) {
    return fail(kExitUsage, std::string(e.what()) + " ('nagent run --help' lists the options)");
  }
  if (a.has("--help") || a.has("-h")) {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  const auto resume_id = a.get("--resume");
  if (!resume_id && a.positional.empty()) return fail(kExitUsage, "nagent run needs a recipe, e.g. nagent run swe_fix --repo DIR");
  if (a.positional.size() > 1) return fail(kExitUsage, "unexpected argument '" + a.positional[1] + "'");
  if (a.get("--task") && a.get("--task-file")) return fail(kExitUsage, "give --task or --task-file, not both");
  if (resume_id && a.get("--session")) return fail(kExitUsage, "give --session or --resume, not both");

  try {
    SessionStore store(SessionStore::default_path(), SessionStore::durability_from_env());
    std::string session_id;
    std::vector<StoredEvent> history;
    json recorded;
    if (resume_id) {
      auto info = store.session(*resume_id);
      if (!info) return fail(kExitUsage, "no session '" + *resume_id + "' in " + SessionStore::default_path() +
                                             " ('nagent sessions list' shows them)");
      session_id = *resume_id;
      history = store.events(session_id);
      for (const auto& e : history)
        if (e.type == "session_start") recorded = e.data.value("settings", json::object());
    }
    json settings = run_settings(a, recorded);
    settings["endpoint"] = a.get("--endpoint").value_or(settings.value("endpoint", env_or("NAGENT_ENDPOINT", "")));
    settings["model"] = a.get("--model").value_or(settings.value("model", env_or("NAGENT_MODEL", "")));
    settings["backend"] = a.get("--backend").value_or(settings.value("backend", ""));
    if (!settings.contains("repo")) settings["repo"] = fs::current_path().string();
    settings["repo"] = fs::absolute(settings["repo"].get<std::string>()).lexically_normal().string();
    if (!settings.contains("policy")) settings["policy"] = "default";
    if (!settings.contains("max_steps")) settings["max_steps"] = 50;

    const std::string recipe_path = resolve_recipe(settings.value("recipe", ""));
    settings["recipe"] = recipe_path;

    BackendOptions backend_options{settings["backend"], settings["endpoint"], settings["model"],
                                   env_or("NAGENT_API_KEY", ""), a.integer("--context-length", 0, 0, 1 << 30),
                                   max_retries_from_env()};
    WorkspaceRunner workspace(settings["repo"], settings["policy"]);
    std::unique_ptr<Backend> backend = make_backend(backend_options);

    if (!resume_id) {
      session_id = a.get("--session").value_or(SessionStore::new_session_id());
      store.create_session({session_id, 0, 0, recipe_path, settings["repo"], settings.value("task", ""), "running", 0});
    } else {
      store.set_status(session_id, "running");
    }

    Journal journal(store, session_id, history);
    Progress::Mode mode = a.has("--json") ? Progress::Mode::Json : a.has("--quiet") ? Progress::Mode::Quiet
                                                                                     : Progress::Mode::Human;
    Progress progress(mode);
    RunTotals totals;
    journal.observe([&](const StoredEvent& e) {
      if (e.type == "model_reply") {
        ++totals.steps;
        const json& u = e.data["usage"];
        totals.tokens += u.value("prompt_tokens", int64_t(0)) + u.value("completion_tokens", int64_t(0));
      }
      progress.on_event(e);
    });
    progress.note(std::string("nagent ") + NAGENT_VERSION + " · session " + session_id + " · " +
                  fs::path(recipe_path).stem().string() + " · " + backend->describe() + " · " +
                  first_line(workspace.runner().describe()));
    journal.record(resume_id ? "session_resume" : "session_start",
                   {{"settings", settings}, {"version", NAGENT_VERSION}, {"backend", backend->describe()}});

    ToolRegistry tools = workspace.allowed_tools().empty() ? builtin_tools()
                                                           : builtin_tools().subset(workspace.allowed_tools());
    ToolContext context{workspace.workspace(), workspace.runner(), settings.value("test_cmd", "")};
    AgentConfig defaults;
    defaults.max_steps = settings["max_steps"].get<int>();
    RecipeHost host{*backend, tools, context, journal, defaults,
                    AgentObserver{[&](const ChatDelta& d) { progress.on_delta(d); }},
                    [&](const std::string& text) {
                      journal.record("output", {{"text", text}});
                      if (mode == Progress::Mode::Json) return;
                      std::fputs(text.c_str(), stdout);
                      std::fflush(stdout);
                    },
                    nullptr};

    json args = settings;
    RecipeOutcome outcome;
    std::string error;
    int code = kExitOk;
    try {
      outcome = run_recipe(recipe_path, args, host);
      code = outcome.ok ? kExitOk : kExitFailed;
    } catch (const RecipeError& e) {
      error = e.what();
      code = kExitUsage;
    } catch (const std::exception& e) {
      // Backend, sandbox or store failure: record it (if the store still works) and exit 3.
      error = e.what();
      code = kExitRuntime;
    }
    const std::string diffstat = workspace.diff_stat();
    journal.record("session_end", {{"ok", outcome.ok},
                                   {"exit_code", code},
                                   {"summary", error.empty() ? outcome.summary : error},
                                   {"steps", totals.steps},
                                   {"tokens", totals.tokens},
                                   {"wall_s", progress.elapsed_s()},
                                   {"diffstat", diffstat}});
    store.set_status(session_id, code == kExitOk ? "succeeded" : code == kExitFailed ? "failed" : "error");
    if (code == kExitRuntime) error += " (session saved: continue with nagent run --resume " + session_id + ")";
    if (!error.empty()) return fail(code, error);
    char line[256];
    std::snprintf(line, sizeof line, "%s · %d steps · %s tokens · %.1fs%s%s · session %s",
                  outcome.ok ? "succeeded" : "failed", totals.steps, short_count(totals.tokens).c_str(),
                  progress.elapsed_s(), diffstat.empty() ? "" : " · ", diffstat.c_str(), session_id.c_str());
    progress.note(line);
    if (!outcome.summary.empty()) progress.note(outcome.summary);
    return code;
  } catch (const ConfigError& e) {
    return fail(kExitUsage, e.what());
  } catch (const UsageError& e) {
    return fail(kExitUsage, e.what());
  } catch (const std::exception& e) {
    return fail(kExitRuntime, e.what());
  }
}

const bool registered = register_command({"run", "run a Lua recipe on a repository", &run_main});

}  // namespace
}  // namespace nagent::cli
