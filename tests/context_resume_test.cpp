// Kill -9 fault injection: the real nagent binary runs a long session (compactions
// included) against the scripted model server (test double) and is killed with SIGKILL at
// random points, again and again, each time resumed with --resume. Every request the
// resumed runs send must be exactly the request an uninterrupted run sends for that turn,
// and no tool recorded as done may run again (a kill loses at most the call in flight).
// Bounded: a few kills per session, each run under a minute.
#include <catch2/catch.hpp>

#include <csignal>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "agent/session_store.h"
#include "support/child_process.h"
#include "support/long_session_script.h"
#include "support/temp_repo.h"

using namespace nagent;

namespace {

constexpr int kTurns = 36;
constexpr int kKillsPerSession = 10;

constexpr const char* kRecipe = R"lua(
local a = nagent.agent{system = "You are a test agent.", tools = {"shell", "finish"}, max_steps = 200,
                       context = {window = 16384, keep_recent = 2}}
local r = a:run(nagent.args.task)
return {ok = r.ok, summary = r.outcome .. ": " .. r.summary}
)lua";

// The scripted model: ~2 KB of prose and one side-effecting shell call per turn. It keeps
// the first request seen for each turn and reports any later one that differs.
struct Model {
  std::mutex mutex;
  std::map<int, json> by_step;
  std::vector<std::string> mismatches;
  std::string prose;
  std::mt19937 rng;

  explicit Model(unsigned seed) : rng(seed) {
    for (int i = 0; i < 26; ++i) prose += "thinking about line " + std::to_string(i) + " of the plan, at some length\n";
  }
  ScriptedReply operator()(const json& request) {
    std::lock_guard lock(mutex);
    const int delay = int(rng() % 40);  // so kills land in model calls too
    if (is_checkpoint_request(request))
      return {.content = "## Goal\nwork through the turns\n## Next steps\n- go on", .delay_ms = delay};
    const int step = requested_step(request);
    auto [it, fresh] = by_step.emplace(step, request["messages"]);
    if (!fresh && it->second != request["messages"]) mismatches.push_back("turn " + std::to_string(step));
    if (step >= kTurns) return finish_reply(step);
    const std::string cmd = "echo " + std::to_string(step) + " >> side.log; echo step-" + std::to_string(step);
    return {.content = prose,
            .tool_calls = json::array({scripted_call(step, "shell", {{"command", cmd}})}),
            .delay_ms = delay};
  }
};

struct Cli {
  TempDir home{"home"};
  TempDir work{"work"};
  std::string endpoint;
  std::filesystem::path recipe = work.path() / "long.lua";
  explicit Cli(std::string ep) : endpoint(std::move(ep)) { write_text(recipe, kRecipe); }

  std::filesystem::path repo(const std::string& session) const { return work.path() / session; }
  std::vector<std::string> argv(const std::string& session, bool resume) const {
    if (resume) return {NAGENT_BINARY, "run", "--resume", session};
    return {NAGENT_BINARY, "run",     recipe.string(), "--repo",  repo(session).string(), "--task",
            "work through the turns", "--session",     session,   "--model", "scripted-model", "--quiet"};
  }
  std::map<std::string, std::string> env() const {
    return {{"NAGENT_HOME", home.str()}, {"NAGENT_ENDPOINT", endpoint}, {"NAGENT_MAX_RETRIES", "1"},
            {"NAGENT_DATA_DIR", NAGENT_SOURCE_DIR}};
  }
  bool exists(const std::string& session) const {
    SessionStore store((home.path() / "sessions.db").string());
    return store.session(session).has_value();
  }
};

std::map<int, int> side_effects(const std::filesystem::path& repo) {
  std::map<int, int> count;
  std::istringstream in(read_text(repo / "side.log"));
  for (int k; in >> k;) ++count[k];
  return count;
}

}  // namespace

TEST_CASE("context: kill -9 at random points; resume reproduces the context and never re-runs a completed tool",
          "[context][resume][kill]") {
  const unsigned seed = std::random_device{}();
  INFO("seed " << seed);
  Model model(seed);
  ScriptedServer server;
  server.set_responder([&](const json& request) { return model(request); });
  Cli cli(server.endpoint());

  // The uninterrupted run: what every turn's request must be.
  write_text(cli.repo("reference") / "README", "reference\n");
  ChildResult ref = run_child(cli.argv("reference", false), cli.env(), "", 120);
  INFO("reference stderr: " << ref.err);
  REQUIRE(ref.exit_code == 0);

  std::mt19937 rng(seed);
  for (const std::string session : {"killed-1", "killed-2"}) {
    write_text(cli.repo(session) / "README", "killed\n");
    int kills = 0;
    bool done = false;
    for (int attempt = 0; attempt < kKillsPerSession && !done; ++attempt) {
      ChildProcess child(cli.argv(session, cli.exists(session)), cli.env());
      const int after_ms = 20 + int(rng() % 250);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(after_ms);
      while (std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      child.kill_hard();
      ChildResult r = child.wait(60);
      if (r.signal == SIGKILL) ++kills;
      else done = r.exit_code == 0;  // it finished before the kill
    }
    if (!done) {
      ChildResult last = run_child(cli.argv(session, cli.exists(session)), cli.env(), "", 120);
      INFO(session << " stderr: " << last.err);
      REQUIRE(last.exit_code == 0);
    }
    INFO(session << ": " << kills << " kills");
    CHECK(kills >= 1);

    SessionStore store((cli.home.path() / "sessions.db").string());
    CHECK(store.session(session)->status == "succeeded");
    // Each call's result was recorded once: no completed call ran again after a resume.
    std::map<std::string, int> recorded;
    int compactions = 0;
    for (const auto& e : store.events(session)) {
      if (e.type == "tool_result") ++recorded[e.data["call_id"].get<std::string>()];
      compactions += e.type == "context_compaction";
    }
    CHECK(recorded.size() == size_t(kTurns + 1));
    for (const auto& [id, n] : recorded) CHECK(n == 1);
    CHECK(compactions >= 1);
    // Each side effect happened; a repeat only for a call a kill interrupted.
    const auto effects = side_effects(cli.repo(session));
    CHECK(effects.size() == size_t(kTurns));
    int repeats = 0;
    for (const auto& [k, n] : effects) repeats += n - 1;
    CHECK(repeats <= kills);
  }

  // A fork at a past turn continues with exactly the context the original had there.
  auto nagent = [&](std::vector<std::string> args) {
    args.insert(args.begin(), NAGENT_BINARY);
    return run_child(args, cli.env(), "", 120);
  };
  ChildResult forked = nagent({"sessions", "fork", "reference", "--at", "20", "--session", "forked"});
  INFO("fork stderr: " << forked.err);
  REQUIRE(forked.exit_code == 0);
  CHECK(forked.out == "forked\n");
  CHECK(nagent({"sessions", "fork", "reference", "--at", "999"}).err.find("past them") != std::string::npos);
  ChildResult resumed = nagent({"run", "--resume", "forked", "--quiet"});
  INFO("resumed fork stderr: " << resumed.err);
  REQUIRE(resumed.exit_code == 0);
  ChildResult show = nagent({"sessions", "show", "forked"});
  CHECK(show.out.find("forked from reference at step 20") != std::string::npos);
  CHECK(show.out.find("context ") != std::string::npos);  // the compaction lines
  CHECK(show.out.find("/16.4k") != std::string::npos);    // fill against the window
  // The export carries every stored output once, before the event that names it.
  ChildResult exported = nagent({"sessions", "export", "reference"});
  CHECK(exported.out.find("\"type\":\"context_compaction\"") != std::string::npos);

  std::lock_guard lock(model.mutex);
  CHECK(model.mismatches.empty());
  CHECK(model.by_step.size() == size_t(kTurns + 1));
}
