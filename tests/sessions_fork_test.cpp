// nagent sessions fork ID --at STEP through the real binary, on a session of two agents run
// by one recipe (the scripted model server as test double, the real sandbox and SQLite
// store): STEP counts model turns over the session exactly as `sessions show` numbers them,
// a bad STEP is a usage error (exit 2) that creates nothing, the fork says that the files
// are not rolled back, and the fork resumes from that turn.
#include <catch2/catch.hpp>

#include "agent/session_store.h"
#include "support/child_process.h"
#include "support/scripted_server.h"
#include "support/temp_repo.h"
#include "support/tool_call_text.h"

using namespace nagent;
namespace fs = std::filesystem;

namespace {

// Two agents one after the other, three model turns each: list_dir, list_dir, finish.
constexpr const char* kRecipe = R"lua(
local tools = {"list_dir", "finish"}
local first = nagent.agent{name = "first", system = "s", tools = tools, max_steps = 6}
local second = nagent.agent{name = "second", system = "s", tools = tools, max_steps = 6}
local a = first:run("first task")
local b = second:run("second task")
return {ok = a.ok and b.ok, summary = "both done"}
)lua";

ScriptedReply two_lists_then_finish(const json& request) {
  int turns = 0;
  for (const auto& m : request["messages"]) turns += m["role"] == "assistant";
  if (turns < 2) return {.content = "look " + std::to_string(turns) + "\n" + text_call("list_dir", {{"path", "."}})};
  return {.content = text_call("finish", {{"summary", "listed"}})};
}

int model_turns(SessionStore& store, const std::string& id) {
  int n = 0;
  for (const auto& e : store.events(id)) n += e.type == "model_reply";
  return n;
}

}  // namespace

TEST_CASE("sessions fork: --at counts turns as show numbers them, across agents; bad steps are usage errors",
          "[sessions][fork][cli]") {
  TempDir home("home"), work("work");
  const fs::path repo = work.path() / "swe_basic";
  make_example_repo("swe_basic", repo);
  const std::string recipe = (work.path() / "two_agents.lua").string();
  write_text(recipe, kRecipe);
  ScriptedServer server;
  server.set_responder(two_lists_then_finish);
  const std::map<std::string, std::string> env{{"NAGENT_HOME", home.str()},
                                               {"NAGENT_ENDPOINT", server.endpoint()},
                                               {"NAGENT_MAX_RETRIES", "1"},
                                               {"NAGENT_DATA_DIR", NAGENT_SOURCE_DIR}};
  auto nagent = [&](std::vector<std::string> args) {
    args.insert(args.begin(), NAGENT_BINARY);
    return run_child(args, env);
  };

  ChildResult run = nagent({"run", recipe, "--repo", repo.string(), "--task", "t", "--model", "scripted-model",
                            "--session", "two", "--quiet"});
  INFO("run stderr: " << run.err);
  REQUIRE(run.exit_code == 0);
  SessionStore store((home.path() / "sessions.db").string());
  REQUIRE(model_turns(store, "two") == 6);

  // show numbers the turns over the session: the second agent's go on at 4.
  ChildResult show = nagent({"sessions", "show", "two"});
  REQUIRE(show.exit_code == 0);
  const size_t second_agent = show.out.find("agent second");
  REQUIRE(second_agent != std::string::npos);
  for (int turn = 1; turn <= 6; ++turn) {
    char tag[32];
    std::snprintf(tag, sizeof tag, "[%3d] model", turn);
    const size_t at = show.out.find(tag);
    INFO(show.out);
    REQUIRE(at != std::string::npos);
    CHECK((turn <= 3 ? at < second_agent : at > second_agent));
  }
  CHECK(show.out.find("[  7]") == std::string::npos);

  // Fork at 4: the first agent whole and the second agent's first turn with its tool result.
  ChildResult fork = nagent({"sessions", "fork", "two", "--at", "4", "--session", "at4"});
  INFO("fork stderr: " << fork.err);
  REQUIRE(fork.exit_code == 0);
  CHECK(fork.out == "at4\n");
  CHECK(fork.err.find("forked two at step 4 into at4") != std::string::npos);
  CHECK(fork.err.find("note: only the conversation is copied; the repository's files are not rolled back") !=
        std::string::npos);
  {
    const auto events = store.events("at4");
    CHECK(model_turns(store, "at4") == 4);
    int64_t last_reply = -1;
    for (size_t i = 0; i < events.size(); ++i)
      if (events[i].type == "model_reply") last_reply = int64_t(i);
    REQUIRE(last_reply >= 0);
    INFO(events[size_t(last_reply)].data.dump());
    CHECK(events[size_t(last_reply)].data["step"] == 0);  // the second agent's first turn
    int64_t first_op = -1;
    for (const auto& e : events)
      if (e.type == "model_reply" && first_op < 0) first_op = e.data["op"].get<int64_t>();
    CHECK(events[size_t(last_reply)].data["op"].get<int64_t>() != first_op);  // ... of the other agent
    CHECK(events[size_t(last_reply) + 1].type == "tool_result");
    CHECK(events.back().type == "session_fork");
  }
  ChildResult fork_show = nagent({"sessions", "show", "at4"});
  CHECK(fork_show.out.find("forked from two at step 4") != std::string::npos);
  CHECK(fork_show.out.find("[  4] model") != std::string::npos);
  CHECK(fork_show.out.find("[  5] model") == std::string::npos);

  // The fork continues from there: the second agent's last two turns come from the model.
  const size_t before = server.request_count();
  ChildResult resumed = nagent({"run", "--resume", "at4", "--quiet"});
  INFO("resume stderr: " << resumed.err);
  REQUIRE(resumed.exit_code == 0);
  CHECK(server.request_count() == before + 2);
  CHECK(model_turns(store, "at4") == 6);
  ChildResult resumed_show = nagent({"sessions", "show", "at4"});
  CHECK(resumed_show.out.find("[  6] model") != std::string::npos);

  // Bad steps: usage errors (exit 2) naming --at, never an uncaught exception, and no session made.
  const size_t sessions = store.list_sessions(100).size();
  for (const std::vector<std::string>& at : std::vector<std::vector<std::string>>{
           {"--at", "abc"}, {"--at", "-1"}, {"--at", "0"}, {"--at=4x"}, {"--at="}, {"--at", "99999999999999999999"}}) {
    std::vector<std::string> args = {"sessions", "fork", "two"};
    args.insert(args.end(), at.begin(), at.end());
    ChildResult bad = nagent(args);
    INFO(at.back() << ": " << bad.err);
    CHECK(bad.exit_code == 2);
    CHECK(bad.err.find("nagent: --at expects an integer from 1") != std::string::npos);
    CHECK(bad.err.find("as 'nagent sessions show ID' numbers them") != std::string::npos);
  }
  ChildResult past = nagent({"sessions", "fork", "two", "--at", "7"});
  CHECK(past.exit_code == 2);
  CHECK(past.err.find("session 'two' has 6 model turns ('nagent sessions show two' numbers them 1 to 6); --at 7 is "
                      "past them") != std::string::npos);
  CHECK(nagent({"sessions", "fork", "two"}).exit_code == 2);               // no --at
  CHECK(nagent({"sessions", "fork", "nope", "--at", "1"}).exit_code == 2);  // no such session
  CHECK(nagent({"sessions", "fork", "two", "--at", "1", "--session", "at4"}).exit_code == 2);  // taken
  CHECK(nagent({"sessions", "list", "--limit", "x"}).exit_code == 2);
  CHECK(store.list_sessions(100).size() == sessions);

  // The help says what fork copies and what it does not.
  ChildResult help = nagent({"sessions", "--help"});
  CHECK(help.out.find("files are NOT rolled") != std::string::npos);
  CHECK(help.out.find("sub-agents") != std::string::npos);
}
