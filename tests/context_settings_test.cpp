// Context settings in sandbox policy files: a policy's `context` table gives the defaults of
// the agents that run under it (layered over the policies it extends), a recipe's per-agent
// context = {...} goes over them, and a bad setting is an error naming the file and the key.
// Checked on load_policy + ContextPolicy::from_policy, and end to end through the real nagent
// binary (the scripted model server as test double, the real sandbox and session store).
#include <catch2/catch.hpp>

#include "agent/context/context_policy.h"
#include "agent/session_store.h"
#include "sandbox/policy.h"
#include "support/child_process.h"
#include "support/scripted_server.h"
#include "support/temp_repo.h"
#include "support/tool_call_text.h"

using namespace nagent;
namespace fs = std::filesystem;

namespace {

std::string write_policy(const TempDir& dir, const std::string& name, const std::string& text) {
  const fs::path file = dir.path() / (name + ".lua");
  write_text(file, text);
  return file.string();
}

// The message of what from_policy(load_policy(file)) throws, or "(no error)".
std::string context_error(const std::string& file) {
  try {
    ContextPolicy::from_policy(sandbox::load_policy(file), ContextPolicy{});
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

std::string shipped_default() { return std::string(NAGENT_SOURCE_DIR) + "/policies/default.lua"; }

}  // namespace

TEST_CASE("context settings: a policy's context table sets defaults, layered over the policies it extends",
          "[context][policy]") {
  TempDir dir("ctxpol");
  const std::string base = write_policy(dir, "base", "return { context = { threshold = 0.7, strategy = 'elide' } }");
  const std::string child = write_policy(
      dir, "child", "return { extends = 'base', context = { artifact_bytes = 4096, window = 2^16, threshold = 0.75 } }");
  sandbox::Policy p = sandbox::load_policy(child);
  REQUIRE(p.context.size() == 2);
  CHECK(p.context[0].file == base);
  CHECK(p.context[1].file == child);

  ContextPolicy c = ContextPolicy::from_policy(p, ContextPolicy{});
  CHECK(c.threshold == Approx(0.75));  // the child's, over the base's
  CHECK(c.strategy == "elide");        // the base's
  CHECK(c.artifact_bytes == 4096);     // the child's
  CHECK(c.window == 65536);            // 2^16 (a Lua float) counts as an integer
  CHECK(c.target == Approx(0.5));      // built in
  CHECK(c.keep_recent == 4);

  // A recipe's per-agent table goes over the policy's, key by key.
  ContextPolicy r = ContextPolicy::from_json(json{{"strategy", "summarize"}, {"keep_recent", 2}}, c);
  CHECK(r.strategy == "summarize");
  CHECK(r.keep_recent == 2);
  CHECK(r.threshold == Approx(0.75));
  CHECK(r.artifact_bytes == 4096);

  // The shipped policies have no context table: the built-in defaults stand.
  for (const char* name : {"default", "readonly", "build"}) {
    ContextPolicy d = ContextPolicy::from_policy(
        sandbox::load_policy(std::string(NAGENT_SOURCE_DIR) + "/policies/" + name + ".lua"), ContextPolicy{});
    CHECK(d.threshold == Approx(0.8));
    CHECK(d.strategy == "summarize");
  }
}

TEST_CASE("context settings: a bad key or value in a policy file is an error naming the file and the key",
          "[context][policy]") {
  TempDir dir("ctxbad");
  auto f = write_policy(dir, "typo", "return { context = { treshold = 0.7 } }");
  CHECK(context_error(f).starts_with("policy " + f + ": context: unknown setting 'treshold' (known: window, threshold"));
  f = write_policy(dir, "range", "return { context = { threshold = 1.5 } }");
  CHECK(context_error(f) == "policy " + f + ": context.threshold must be a number in (0.00, 1.00]");
  f = write_policy(dir, "strategy", "return { context = { strategy = 'squash' } }");
  CHECK(context_error(f) == "policy " + f + ": context.strategy must be \"summarize\", \"elide\" or \"none\"");
  f = write_policy(dir, "small", "return { context = { window = 100 } }");
  CHECK(context_error(f) == "policy " + f + ": context.window must be an integer from 1024 to 1048576");
  f = write_policy(dir, "fraction", "return { context = { keep_recent = 2.5 } }");
  CHECK(context_error(f) == "policy " + f + ": context.keep_recent must be an integer from 1 to 1000");
  // Shape errors come from the policy reader, in its words.
  f = write_policy(dir, "nested", "return { context = { window = { 1 } } }");
  CHECK(context_error(f) == "policy " + f + ": key 'context.window': expected a number, a string or true/false, got a table");
  f = write_policy(dir, "scalar", "return { context = 0.7 }");
  CHECK(context_error(f) == "policy " + f + ": key 'context': expected a table, got 0.7");
  // A bad value in a base policy names the base; a conflict a child creates names the child.
  const std::string base = write_policy(dir, "badbase", "return { context = { min_free = 0 } }");
  f = write_policy(dir, "okchild", "return { extends = 'badbase', context = { threshold = 0.9 } }");
  CHECK(context_error(f) == "policy " + base + ": context.min_free must be a number in (0.00, 1.00]");
  write_policy(dir, "low", "return { context = { threshold = 0.6 } }");
  f = write_policy(dir, "conflict", "return { extends = 'low', context = { target = 0.65 } }");
  CHECK(context_error(f) == "policy " + f + ": context.target (0.65) must be below context.threshold (0.60)");
  // A recipe's value that conflicts with the policy's says both values.
  ContextPolicy low = ContextPolicy::from_policy(sandbox::load_policy(dir.str() + "/low.lua"), ContextPolicy{});
  try {
    ContextPolicy::from_json(json{{"target", 0.7}}, low);
    FAIL("no error");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()) == "context.target (0.70) must be below context.threshold (0.60)");
  }
}

namespace {

// Three agents, each running one shell command whose output (8.9 KB, under the built-in
// artifact_bytes of 16 KiB) says which agent ran it, then finishing.
constexpr const char* kRecipe = R"lua(
local tools = {"shell", "finish"}
local inherits = nagent.agent{name = "inherits", system = "s", tools = tools, max_steps = 4}
local overrides = nagent.agent{name = "overrides", system = "s", tools = tools, max_steps = 4,
                               context = {artifact_bytes = 12000}}
local own = nagent.agent{name = "own", system = "s", tools = tools, max_steps = 4, policy = nagent.args.own}
for _, a in ipairs({{inherits, "inherits"}, {overrides, "overrides"}, {own, "own"}}) do
  local r = a[1]:run("task " .. a[2])
  if not r.ok then return {ok = false, summary = a[2] .. ": " .. r.outcome} end
end
return {ok = true, summary = "done"}
)lua";

ScriptedReply shell_then_finish(const json& request) {
  int turns = 0;
  std::string task;
  for (const auto& m : request["messages"]) {
    turns += m["role"] == "assistant";
    if (m["role"] == "user" && task.empty()) task = m["content"].get<std::string>();
  }
  if (turns > 0) return {.content = text_call("finish", {{"summary", "done"}})};
  const std::string who = task.substr(task.rfind(' ') + 1);
  return {.content = text_call("shell", {{"command", "echo " + who + "; seq 1 2000"}})};
}

}  // namespace

TEST_CASE("context settings: the run's policy sets the agents' defaults, the recipe and an agent's own policy "
          "override them (real CLI)",
          "[context][policy][cli]") {
  TempDir home("home"), work("work");
  const fs::path repo = work.path() / "swe_basic";
  make_example_repo("swe_basic", repo);
  const std::string recipe = (work.path() / "three.lua").string();
  write_text(recipe, kRecipe);
  // The run's policy: artifacts above 4 KiB. The agent's own policy: above 12000 bytes.
  const std::string run_policy = write_policy(
      work, "small_artifacts",
      "return { extends = '" + shipped_default() + "', context = { artifact_bytes = 4096, view_bytes = 1024 } }");
  const std::string own_policy = write_policy(
      work, "own", "return { extends = '" + run_policy + "', context = { artifact_bytes = 12000 } }");
  ScriptedServer server;
  server.set_responder(shell_then_finish);
  const std::map<std::string, std::string> env{{"NAGENT_HOME", home.str()},
                                               {"NAGENT_ENDPOINT", server.endpoint()},
                                               {"NAGENT_MAX_RETRIES", "1"},
                                               {"NAGENT_DATA_DIR", NAGENT_SOURCE_DIR}};
  auto nagent = [&](const std::string& policy, const std::string& session) {
    return run_child({NAGENT_BINARY, "run", recipe, "--repo", repo.string(), "--task", "t", "--model",
                      "scripted-model", "--policy", policy, "--session", session, "--arg", "own=" + own_policy,
                      "--quiet"},
                     env);
  };

  ChildResult r = nagent(run_policy, "ctx");
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  SessionStore store((home.path() / "sessions.db").string());
  std::map<std::string, json> result_of;  // agent (from its output's first line) -> tool_result
  for (const auto& e : store.events("ctx"))
    if (e.type == "tool_result" && e.data["name"] == "shell") {
      const std::string out = e.data["output"];
      result_of[out.substr(0, out.find('\n'))] = e.data;
    }
  REQUIRE(result_of.size() == 3);
  // The policy's 4 KiB: the 8.9 KB output became an artifact, the model saw 1 KiB and the handle.
  CHECK(result_of["inherits"].value("artifact", "").starts_with("art_"));
  CHECK(result_of["inherits"]["output"].get<std::string>().size() < 2048);
  // The recipe's artifact_bytes = 12000 over the policy's: shown whole.
  CHECK(result_of["overrides"].value("artifact", "").empty());
  CHECK(result_of["overrides"]["output"].get<std::string>().find("\n2000") != std::string::npos);
  // The agent's own policy (extending the run's, raising the threshold) replaces the run's.
  CHECK(result_of["own"].value("artifact", "").empty());

  // A bad setting in the run's policy: a usage error (exit 2) naming the file and the key,
  // before any model call.
  const size_t requests = server.request_count();
  const std::string bad =
      write_policy(work, "bad", "return { extends = '" + shipped_default() + "', context = { threshold = 'high' } }");
  ChildResult b = nagent(bad, "bad-run");
  CHECK(b.exit_code == 2);
  CHECK(b.err.find("policy " + bad + ": context.threshold must be a number") != std::string::npos);
  const std::string typo =
      write_policy(work, "typo", "return { extends = '" + shipped_default() + "', context = { stratgy = 'none' } }");
  ChildResult t = nagent(typo, "typo-run");
  CHECK(t.exit_code == 2);
  CHECK(t.err.find("policy " + typo + ": context: unknown setting 'stratgy'") != std::string::npos);
  CHECK(server.request_count() == requests);
  // nagent sandbox checks the table too.
  ChildResult s = run_child({NAGENT_BINARY, "sandbox", "--policy", typo, "--", "true"}, env);
  CHECK(s.exit_code == 2);
  CHECK(s.err.find("unknown setting 'stratgy'") != std::string::npos);
}
