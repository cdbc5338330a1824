// nagent run RECIPE.lua [--repo DIR] [--task TEXT | --task-file FILE] [--test-cmd CMD]
//   [--endpoint URL] [--model NAME] [--backend openai|local] [--max-steps N] [--policy NAME|FILE]
//   [--session ID] [--resume ID] [--arg KEY=VALUE]... [--out DIR] [--json] [--quiet]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/cli/arguments.h"
#include "agent/cli/command.h"
#include "agent/errors.h"
#include "agent/progress.h"
#include "agent/runtime_paths.h"
#include "agent/session_runner.h"

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
  --arg KEY=VALUE      a setting for the recipe (nagent.args.KEY), e.g. --arg base=main; repeatable
  --out DIR            where the recipe writes its reports (default: NAGENT_HOME/reports/SESSION)
  --json               print every event as a JSON line on stdout
  --quiet              no progress on stderr

environment: NAGENT_ENDPOINT, NAGENT_MODEL, NAGENT_API_KEY, NAGENT_HOME (default ~/.nagent),
             NAGENT_DEVICE (--backend local: cpu, cuda, cuda:N or auto; default auto),
             NAGENT_TP (--backend local: GPUs to shard the model over from NAGENT_DEVICE's; default 1),
             NAGENT_SESSION_POOL_MB, NAGENT_PREFILL_CHUNK (--backend local: session state
             pool budget, default 4096; prompt tokens prefilled per step, default 256),
             NAGENT_MAX_RETRIES (model request retries, default 5),
             NAGENT_DURABILITY (normal: commit each event; full: also fsync each event)
exit codes: 0 success, 1 the recipe reported failure, 2 usage or configuration error, 3 runtime error
)";

std::string read_text_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(std::string("cannot read ") + what + " " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The run's settings: from the flags and the environment, or on --resume from the
// session's first event with the flags given now taking precedence.
RunSettings settings_from(const Arguments& a, RunSettings s) {
  auto set = [&](const char* key, const std::optional<std::string>& v) {
    if (v) s[key] = *v;
  };
  if (!a.positional.empty()) s["recipe"] = a.positional[0];
  set("repo", a.get("--repo"));
  set("task", a.get("--task"));
  if (auto f = a.get("--task-file")) s["task"] = read_text_file(*f, "task file");
  set("test_cmd", a.get("--test-cmd"));
  set("policy", a.get("--policy"));
  set("backend", a.get("--backend"));
  if (auto out = a.get("--out")) s["out"] = fs::absolute(*out).lexically_normal().string();
  for (const auto& pair : a.all("--arg")) {
    const size_t eq = pair.find('=');
    if (eq == std::string::npos || eq == 0) throw UsageError("--arg expects KEY=VALUE, got '" + pair + "'");
    const std::string key = pair.substr(0, eq);
    static const char* own[] = {"recipe", "repo", "task", "test_cmd", "policy", "backend", "max_steps",
                                "context_length", "endpoint", "model", "out"};
    for (const char* k : own)
      if (key == k) {
        std::string flag = key;
        std::replace(flag.begin(), flag.end(), '_', '-');
        throw UsageError("--arg " + key + "=... names a setting of its own; use --" + flag);
      }
    s[key] = pair.substr(eq + 1);
  }
  if (a.get("--max-steps")) s["max_steps"] = a.integer("--max-steps", 50, 1, 100000);
  if (a.get("--context-length")) s["context_length"] = a.integer("--context-length", 0, 0, int64_t(1) << 30);
  s["endpoint"] = a.get("--endpoint").value_or(s.value("endpoint", env_or("NAGENT_ENDPOINT", "")));
  s["model"] = a.get("--model").value_or(s.value("model", env_or("NAGENT_MODEL", "")));
  return complete_settings(std::move(s));
}

int run_main(const std::vector<std::string>& argv) {
  Arguments a;
  try {
    a = parse_arguments(argv,
                        {"--repo", "--task", "--task-file", "--test-cmd", "--endpoint", "--model", "--backend",
                         "--context-length", "--max-steps", "--policy", "--session", "--resume", "--arg", "--out"},
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
    RunSettings recorded = json::object();
    std::string id;
    if (resume_id) {
      if (!store.session(*resume_id))
        return fail(kExitUsage, "no session '" + *resume_id + "' in " + SessionStore::default_path() +
                                    " ('nagent sessions list' shows them)");
      id = *resume_id;
      recorded = recorded_settings(store.events(id));
      // Killed before its first event: the session row still names recipe, repo and task.
      if (recorded.empty()) {
        const SessionInfo info = *store.session(id);
        recorded = {{"recipe", info.recipe}, {"repo", info.repo}, {"task", info.task}};
      }
    } else {
      id = a.get("--session").value_or(SessionStore::new_session_id());
      if (store.session(id)) return fail(kExitUsage, "session '" + id + "' exists already; use --resume " + id);
    }
    RunSettings settings = settings_from(a, recorded);

    const Progress::Mode mode = a.has("--json")    ? Progress::Mode::Json
                                : a.has("--quiet") ? Progress::Mode::Quiet
                                                   : Progress::Mode::Human;
    Progress progress(mode);
    SessionHooks hooks;
    hooks.on_event = [&](const StoredEvent& e) { progress.on_event(e); };
    hooks.on_delta = [&](const ChatDelta& d) { progress.on_delta(d); };
    hooks.on_header = [&](const std::string& line) { progress.note(line); };
    hooks.on_output = [&](const std::string& text) {
      if (mode == Progress::Mode::Json) return;  // stdout carries JSON Lines only
      std::fputs(text.c_str(), stdout);
      std::fflush(stdout);
    };
    SessionResult r = run_session(store, id, resume_id.has_value(), settings, hooks);
    if (r.exit_code >= kExitUsage) return fail(r.exit_code, r.summary);
    char line[256];
    std::snprintf(line, sizeof line, "%s · %d steps · %s tokens · %.1fs%s%s · session %s",
                  r.ok ? "succeeded" : "failed", r.steps, short_count(r.tokens).c_str(), r.wall_s,
                  r.diffstat.empty() ? "" : " · ", r.diffstat.c_str(), id.c_str());
    progress.note(line);
    if (!r.summary.empty()) progress.note(r.summary);
    return r.exit_code;
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
