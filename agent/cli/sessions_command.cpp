// nagent sessions [list [--limit N] | show ID | export ID [--out FILE]]
#include <cstdio>
#include <ctime>
#include <fstream>

#include "agent/cli/arguments.h"
#include "agent/cli/command.h"
#include "agent/progress.h"
#include "agent/session_store.h"

namespace nagent::cli {
namespace {

constexpr const char* kUsage = R"(usage: nagent sessions [list [--limit N] | show ID | export ID [--out FILE]]

  list          the most recent sessions (default)
  show ID       the session's timeline: steps, tools, results, tokens
  export ID     the whole trajectory as JSON Lines (one event per line) on stdout or --out FILE
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
  for (const auto& e : store.events(id)) {
    json line = {{"session", id}, {"seq", e.seq}, {"ts", e.ts}, {"type", e.type}, {"data", e.data}};
    std::string text = line.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    if (out_path) file << text;
    else std::fputs(text.c_str(), stdout);
  }
  if (out_path && !file) return fail(kExitRuntime, "writing " + *out_path + " failed");
  return kExitOk;
}

int sessions_main(const std::vector<std::string>& argv) {
  Arguments a;
  try {
    a = parse_arguments(argv, {"--limit", "--out"}, {"--help", "-h"});
  } catch (const UsageError& e) {
    return fail(kExitUsage, std::string(e.what()) + " ('nagent sessions --help' shows the usage)");
  }
  if (a.has("--help") || a.has("-h")) {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  const std::string verb = a.positional.empty() ? "list" : a.positional[0];
  SessionStore store(SessionStore::default_path());
  if (verb == "list") return list(store, int(a.integer("--limit", 20, 1, 100000)));
  if (verb == "show" || verb == "export") {
    if (a.positional.size() != 2) return fail(kExitUsage, "nagent sessions " + verb + " needs a session ID");
    return verb == "show" ? show(store, a.positional[1]) : export_jsonl(store, a.positional[1], a.get("--out"));
  }
  return fail(kExitUsage, "unknown sessions command '" + verb + "' (list, show ID, export ID)");
}

const bool registered = register_command({"sessions", "list, show and export stored sessions", &sessions_main});

}  // namespace
}  // namespace nagent::cli
