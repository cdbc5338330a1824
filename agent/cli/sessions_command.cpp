// nagent sessions [list [--limit N] | show ID | export ID [--out FILE] | fork ID --at STEP [--session NEW]]
#include <cstdio>
#include <ctime>
#include <fstream>

#include <set>

#include "agent/cli/arguments.h"
#include "agent/cli/command.h"
#include "agent/context/artifact_store.h"
#include "agent/progress.h"
#include "agent/session_store.h"

namespace nagent::cli {
namespace {

constexpr const char* kUsage = R"(usage: nagent sessions [list [--limit N] | show ID | export ID [--out FILE] | fork ID --at STEP [--session NEW]]

  list          the most recent sessions (default)
  show ID       the session's timeline: steps, tools, results, tokens, context fill, compactions
  export ID     the whole trajectory as JSON Lines (one event per line; each stored tool output
                once, as an "artifact" line before the first event naming it) on stdout or --out FILE
  fork ID --at STEP [--session NEW]
                a new session (NEW, else a fresh ID, printed on stdout) holding ID's events
                through model turn STEP and its tool results; continue it with
                nagent run --resume NEW. STEP counts model turns over the whole session, all
                agents and sub-agents together, the way 'show' numbers them ([1], [2], ...).
                Only the conversation is copied: the repository's files are NOT rolled
                back to STEP (they stay as they are now; restore them yourself, e.g. with
                git, before resuming if the fork must see them as they were).
)";

std::string when(double ts) {
  std::time_t t = std::time_t(ts);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

std::string one_line(std::string s, size_t max) {
  for (char& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  if (s.size() > max) s = s.substr(0, max - 1) + "…";
  return s;
}

int list(SessionStore& store, int limit) {
  auto sessions = store.list_sessions(limit);
  if (sessions.empty()) {
    std::printf("no sessions yet in %s\n", SessionStore::default_path().c_str());
    return kExitOk;
  }
  std::printf("%-24s %-10s %-16s %7s  %-12s %s\n", "ID", "STATUS", "STARTED", "EVENTS", "RECIPE", "TASK");
  for (const auto& s : sessions) {
    std::string recipe = s.recipe.substr(s.recipe.find_last_of('/') + 1);
    std::printf("%-24s %-10s %-16s %7lld  %-12s %s\n", s.id.c_str(), s.status.c_str(), when(s.created_at).c_str(),
                static_cast<long long>(s.event_count), one_line(recipe, 12).c_str(), one_line(s.task, 60).c_str());
  }
  return kExitOk;
}

int show(SessionStore& store, const std::string& id) {
  auto info = store.session(id);
  if (!info) return fail(kExitUsage, "no session '" + id + "' ('nagent sessions list' shows them)");
  std::printf("session %s  %s  started %s\nrecipe  %s\nrepo    %s\ntask    %s\n\n", info->id.c_str(),
              info->status.c_str(), when(info->created_at).c_str(), info->recipe.c_str(), info->repo.c_str(),
              one_line(info->task, 200).c_str());
  Progress timeline(Progress::Mode::Human, stdout);
  timeline.number_turns_over_session();  // the numbers fork --at takes
  for (const auto& e : store.events(id)) {
    timeline.on_event(e);
    if (e.type == "session_end") {
      const json& d = e.data;
      std::printf("\nend: %s · %d steps · %s tokens · %.1fs%s%s\n", d.value("ok", false) ? "succeeded" : "failed",
                  d.value("steps", 0), short_count(d.value("tokens", int64_t(0))).c_str(), d.value("wall_s", 0.0),
                  d.value("diffstat", "").empty() ? "" : " · ", d.value("diffstat", "").c_str());
      if (!d.value("summary", "").empty()) std::printf("%s\n", d.value("summary", "").c_str());
    }
  }
  return kExitOk;
}

int export_jsonl(SessionStore& store, const std::string& id, const std::optional<std::string>& out_path) {
  auto info = store.session(id);
  if (!info) return fail(kExitUsage, "no session '" + id + "' ('nagent sessions list' shows them)");
  std::ofstream file;
  if (out_path) {
    file.open(*out_path, std::ios::binary | std::ios::trunc);
    if (!file) return fail(kExitUsage, "cannot write " + *out_path);
  }
  ArtifactStore artifacts(store.path());
  std::set<std::string> exported;
  auto emit = [&](const json& line) {
    std::string text = line.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    if (out_path) file << text;
    else std::fputs(text.c_str(), stdout);
  };
  for (const auto& e : store.events(id)) {
    const std::string artifact = e.type == "tool_result" ? e.data.value("artifact", "") : "";
    if (!artifact.empty() && exported.insert(artifact).second)
      if (auto text = artifacts.artifact_text(artifact))
        emit({{"session", id}, {"type", "artifact"}, {"id", artifact}, {"text", *text}});
    emit({{"session", id}, {"seq", e.seq}, {"ts", e.ts}, {"type", e.type}, {"data", e.data}});
  }
  if (out_path && !file) return fail(kExitRuntime, "writing " + *out_path + " failed");
  return kExitOk;
}

// The seq of the last event of model turn `step` (1-based over the session): its reply and
// the results and messages that answer it; 0 when the session has fewer turns.
int64_t end_of_turn(const std::vector<StoredEvent>& events, int64_t step) {
  int64_t turns = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].type != "model_reply" || ++turns != step) continue;
    const json& reply = events[i].data;
    int64_t last = events[i].seq;
    for (size_t j = i + 1; j < events.size(); ++j) {
      const json& d = events[j].data;
      const bool answers = (events[j].type == "tool_result" || events[j].type == "user_message") &&
                           d.value("op", -1) == reply.value("op", -1) && d.value("step", -1) == reply.value("step", -1);
      if (!answers) break;
      last = events[j].seq;
    }
    return last;
  }
  return 0;
}

int fork(SessionStore& store, const std::string& id, int64_t step, std::optional<std::string> new_id) {
  auto info = store.session(id);
  if (!info) return fail(kExitUsage, "no session '" + id + "' ('nagent sessions list' shows them)");
  const auto events = store.events(id);
  const int64_t through = end_of_turn(events, step);
  if (through == 0) {
    int64_t turns = 0;
    for (const auto& e : events) turns += e.type == "model_reply";
    return fail(kExitUsage, "session '" + id + "' has " + std::to_string(turns) + " model turns" +
                                (turns > 0 ? " ('nagent sessions show " + id + "' numbers them 1 to " +
                                                 std::to_string(turns) + ")"
                                           : "") +
                                "; --at " + std::to_string(step) + " is past them");
  }
  SessionInfo to = *info;
  to.id = new_id.value_or(SessionStore::new_session_id());
  to.created_at = 0;
  to.status = "forked";
  try {
    store.fork_session(id, to, through);
  } catch (const StoreError& e) {
    return fail(kExitUsage, e.what());
  }
  store.append(to.id, "session_fork", {{"from", id}, {"at_step", step}, {"through_seq", through}});
  std::printf("%s\n", to.id.c_str());
  std::fprintf(stderr, "forked %s at step %lld into %s; continue with: nagent run --resume %s\n", id.c_str(),
               static_cast<long long>(step), to.id.c_str(), to.id.c_str());
  std::fprintf(stderr, "note: only the conversation is copied; the repository's files are not rolled back to step %lld\n",
               static_cast<long long>(step));
  return kExitOk;
}

int sessions_main(const std::vector<std::string>& argv) {
  Arguments a;
  try {
    a = parse_arguments(argv, {"--limit", "--out", "--at", "--session"}, {"--help", "-h"});
  } catch (const UsageError& e) {
    return fail(kExitUsage, std::string(e.what()) + " ('nagent sessions --help' shows the usage)");
  }
  if (a.has("--help") || a.has("-h")) {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  const std::string verb = a.positional.empty() ? "list" : a.positional[0];
  // A bad number is a usage error (exit 2) naming the option, checked before the store opens.
  long long limit = 20, at = 0;
  try {
    limit = a.integer("--limit", 20, 1, 100000);
    at = a.integer("--at", 0, 1, int64_t(1) << 40);
  } catch (const UsageError& e) {
    return fail(kExitUsage, std::string(e.what()) +
                                (a.get("--at") ? " (--at takes a model turn, as 'nagent sessions show ID' numbers them)"
                                               : ""));
  }
  SessionStore store(SessionStore::default_path());
  if (verb == "list") return list(store, int(limit));
  if (verb == "show" || verb == "export") {
    if (a.positional.size() != 2) return fail(kExitUsage, "nagent sessions " + verb + " needs a session ID");
    return verb == "show" ? show(store, a.positional[1]) : export_jsonl(store, a.positional[1], a.get("--out"));
  }
  if (verb == "fork") {
    if (a.positional.size() != 2) return fail(kExitUsage, "nagent sessions fork needs a session ID and --at STEP");
    if (!a.get("--at")) return fail(kExitUsage, "nagent sessions fork needs --at STEP (a model turn, as 'show' numbers them)");
    return fork(store, a.positional[1], at, a.get("--session"));
  }
  return fail(kExitUsage, "unknown sessions command '" + verb + "' (list, show ID, export ID, fork ID --at STEP)");
}

const bool registered = register_command({"sessions", "list, show, export and fork stored sessions", &sessions_main});

}  // namespace
}  // namespace nagent::cli
