#include <catch2/catch.hpp>

#include "agent/planner.h"
#include "support/agent_testbed.h"
#include "support/tool_call_text.h"

using namespace nagent;

namespace {

json server_call(const std::string& id, const std::string& name, const json& args) {
  return {{"id", id}, {"type", "function"}, {"function", {{"name", name}, {"arguments", args.dump()}}}};
}

struct PlannerFixture : AgentTestbed {
  explicit PlannerFixture(const std::string& test_cmd = "grep -q fixed status.txt")
      : AgentTestbed("planner", "p", test_cmd,
                     {{"status.txt", "broken\n"}, {"notes.md", "line one\nline two\n"}}) {}

  AgentResult run(AgentConfig config = {}, const std::string& task = "fix status.txt", int op = 0) {
    Agent agent(std::move(config), *client, tools, *context, *journal);
    return agent.run(task, op);
  }

  std::vector<StoredEvent> events(const std::string& type) {
    std::vector<StoredEvent> out;
    for (auto& e : store->events("p"))
      if (e.type == type) out.push_back(e);
    return out;
  }
};

// The messages of the n-th request the server received.
json messages_of(ScriptedServer& server, size_t n) { return server.requests().at(n)["messages"]; }

}  // namespace

TEST_CASE("planner: text-embedded calls, server calls, results fed back, finish", "[planner]") {
  PlannerFixture f;
  // 1: a server without a tool parser: reasoning and the call come back as text.
  f.server.push({.content = "The file says broken.\n</think>\nLet me look.\n" +
                            text_call("read_file", {{"path", "status.txt"}})});
  // 2: a server with a tool parser: a structured call.
  f.server.push({.tool_calls = json::array({server_call("call_1", "edit_file",
                                                         {{"path", "status.txt"},
                                                          {"old_str", "broken"},
                                                          {"new_str", "fixed"}})})});
  f.server.push({.content = text_call("run_tests", {})});
  f.server.push({.content = text_call("finish", {{"summary", "status is fixed"}})});

  AgentResult r = f.run();
  CHECK(r.outcome == "finished");
  CHECK(r.ok);
  CHECK(r.summary == "status is fixed");
  CHECK(r.steps == 4);
  CHECK(read_text(f.workspace->root() / "status.txt") == "fixed\n");

  REQUIRE(f.server.request_count() == 4);
  // The first reply's reasoning was split out and its call's result reached the model.
  json m1 = messages_of(f.server, 1);
  json assistant = m1[m1.size() - 2];
  CHECK(assistant["role"] == "assistant");
  CHECK(assistant["reasoning_content"].get<std::string>().rfind("The file says broken.", 0) == 0);
  CHECK(assistant["content"].get<std::string>().find("Let me look.") != std::string::npos);
  CHECK(assistant["tool_calls"][0]["function"]["name"] == "read_file");
  CHECK(m1.back()["role"] == "tool");
  CHECK(m1.back()["tool_call_id"] == assistant["tool_calls"][0]["id"]);
  CHECK(m1.back()["content"].get<std::string>().find("broken") != std::string::npos);
  // The server-parsed call keeps its id.
  json m2 = messages_of(f.server, 2);
  CHECK(m2.back()["tool_call_id"] == "call_1");
  // Tools were offered as OpenAI function schemas, with the artifact tools.
  CHECK(f.server.requests()[0]["tools"].size() == f.tools.names().size() + 2);

  auto replies = f.events("model_reply");
  auto results = f.events("tool_result");
  CHECK(replies.size() == 4);
  CHECK(results.size() == 4);
  CHECK(results[2].data["data"]["passed"] == true);
}

TEST_CASE("planner: malformed calls become errors the model sees, then the run stops", "[planner]") {
  PlannerFixture f;
  f.server.push({.content = text_call("rm_everything", {{"path", "/"}})});
  f.server.push({.content = "I think I am done."});
  f.server.push({.content = text_call("read_file", {{"start_line", "ten"}})});
  AgentConfig config;
  config.max_format_errors = 3;
  AgentResult r = f.run(config);
  CHECK(r.outcome == "format_errors");
  CHECK_FALSE(r.ok);
  CHECK(r.steps == 3);

  json m1 = messages_of(f.server, 1);
  CHECK(m1.back()["role"] == "tool");
  std::string err = m1.back()["content"];
  CHECK(err.find("unknown tool 'rm_everything'") != std::string::npos);
  CHECK(err.find("read_file") != std::string::npos);  // lists what exists
  json m2 = messages_of(f.server, 2);
  CHECK(m2.back()["role"] == "user");
  CHECK(m2.back()["content"].get<std::string>().find("no tool call") != std::string::npos);
}

TEST_CASE("planner: a server call with malformed JSON arguments gets a precise error", "[planner]") {
  PlannerFixture f;
  f.server.push({.tool_calls = json::array({{{"id", "call_bad"},
                                              {"type", "function"},
                                              {"function", {{"name", "read_file"}, {"arguments", "{\"path\": \"notes.md\""}}}}})});
  f.server.push({.content = text_call("finish", {{"summary", "ok"}})});
  CHECK(f.run().outcome == "finished");
  json m = messages_of(f.server, 1);
  CHECK(m.back()["tool_call_id"] == "call_bad");
  CHECK(m.back()["content"].get<std::string>().find("not valid JSON") != std::string::npos);
}

TEST_CASE("planner: a valid call resets the format-error count", "[planner]") {
  PlannerFixture f;
  f.server.push({.content = "no call"});
  f.server.push({.content = "still no call"});
  f.server.push({.content = text_call("read_file", {{"path", "notes.md"}})});
  f.server.push({.content = "no call again"});
  f.server.push({.content = text_call("finish", {{"summary", "ok"}})});
  AgentConfig config;
  config.max_format_errors = 3;
  CHECK(f.run(config).outcome == "finished");
}

TEST_CASE("planner: the same failing call over and over is told so, then ends the run as stuck", "[planner]") {
  PlannerFixture f;
  for (int i = 0; i < 5; ++i) f.server.push({.content = text_call("read_file", {{"path", "missing.txt"}})});
  AgentConfig config;
  config.max_repeated_failures = 3;
  AgentResult r = f.run(config);
  CHECK(r.outcome == "stuck");
  CHECK_FALSE(r.ok);
  CHECK(r.steps == 3);
  CHECK(r.summary.find("read_file") != std::string::npos);
  REQUIRE(f.server.request_count() == 3);
  const std::string first = messages_of(f.server, 1).back()["content"];
  const std::string second = messages_of(f.server, 2).back()["content"];
  CHECK(first.find("[nagent]") == std::string::npos);
  CHECK(second.rfind(first, 0) == 0);  // the same error, and then the note
  CHECK(second.find("failed 2 times in a row") != std::string::npos);
}

TEST_CASE("planner: a different call or a success resets the repeated-failure count", "[planner]") {
  PlannerFixture f;
  const std::string missing = text_call("read_file", {{"path", "missing.txt"}});
  f.server.push({.content = missing});
  f.server.push({.content = missing});
  f.server.push({.content = text_call("read_file", {{"path", "also_missing.txt"}})});  // other arguments
  f.server.push({.content = missing});
  f.server.push({.content = missing});
  f.server.push({.content = text_call("read_file", {{"path", "notes.md"}})});  // succeeds
  f.server.push({.content = missing});
  f.server.push({.content = text_call("finish", {{"summary", "gave up politely"}})});
  AgentConfig config;
  config.max_repeated_failures = 3;
  AgentResult r = f.run(config);
  CHECK(r.outcome == "finished");
  CHECK(r.steps == 8);
  // The second of each run of two identical failures carries the note; the others do not.
  for (size_t n : {1, 3, 4, 6, 7}) {
    INFO("request " << n);
    CHECK(messages_of(f.server, n).back()["content"].get<std::string>().find("[nagent]") == std::string::npos);
  }
  for (size_t n : {2, 5}) {
    INFO("request " << n);
    CHECK(messages_of(f.server, n).back()["content"].get<std::string>().find("failed 2 times") != std::string::npos);
  }
}

TEST_CASE("planner: budgets end the run", "[planner]") {
  SECTION("steps") {
    PlannerFixture f;
    for (int i = 0; i < 3; ++i) f.server.push({.content = text_call("read_file", {{"path", "notes.md"}})});
    AgentConfig config;
    config.max_steps = 2;
    AgentResult r = f.run(config);
    CHECK(r.outcome == "budget_exhausted");
    CHECK(r.steps == 2);
    CHECK(f.server.request_count() == 2);
  }
  SECTION("tokens") {
    PlannerFixture f;
    for (int i = 0; i < 3; ++i)
      f.server.push({.content = text_call("read_file", {{"path", "notes.md"}}), .prompt_tokens = 600,
                     .completion_tokens = 10});
    AgentConfig config;
    config.max_tokens = 1000;
    AgentResult r = f.run(config);
    CHECK(r.outcome == "budget_exhausted");
    CHECK(r.steps == 2);
    CHECK(r.tokens == 1220);
  }
}

TEST_CASE("planner: stop_on_tests_pass ends the run when run_tests passes", "[planner]") {
  PlannerFixture f;
  f.server.push({.content = text_call("write_file", {{"path", "status.txt"}, {"content", "fixed"}})});
  f.server.push({.content = text_call("run_tests", {})});
  AgentConfig config;
  config.stop_on_tests_pass = true;
  AgentResult r = f.run(config);
  CHECK(r.outcome == "tests_passed");
  CHECK(r.ok);
  CHECK(f.server.request_count() == 2);
}

TEST_CASE("planner: several read-only calls in one reply all answer, in order", "[planner]") {
  PlannerFixture f;
  f.server.push({.content = text_call("read_file", {{"path", "notes.md"}}) + "\n" +
                            text_call("read_file", {{"path", "status.txt"}}) + "\n" +
                            text_call("list_dir", {})});
  f.server.push({.content = text_call("finish", {{"summary", "read"}})});
  CHECK(f.run().outcome == "finished");
  json m = messages_of(f.server, 1);
  REQUIRE(m.size() >= 5);
  size_t n = m.size();
  CHECK(m[n - 3]["content"].get<std::string>().find("line one") != std::string::npos);
  CHECK(m[n - 2]["content"].get<std::string>().find("broken") != std::string::npos);
  CHECK(m[n - 1]["content"].get<std::string>().find("notes.md") != std::string::npos);
  for (size_t i = n - 3; i < n; ++i) CHECK(m[i]["tool_call_id"] == m[n - 4]["tool_calls"][int(i - (n - 3))]["id"]);
}

TEST_CASE("planner: resume rebuilds the conversation and runs only the unfinished call", "[planner][resume]") {
  PlannerFixture f;
  // A first run that "crashed" after the model asked for two shell calls and only the first
  // one's result was recorded.
  f.journal->record("agent_start", {{"op", 0}, {"task", "fix status.txt"}});
  f.journal->record("model_reply",
                    {{"op", 0},
                     {"step", 0},
                     {"content", "two steps"},
                     {"tool_calls", json::array({{{"id", "c1"}, {"name", "shell"}, {"arguments", {{"command", "echo a >> log.txt"}}}},
                                                 {{"id", "c2"}, {"name", "shell"}, {"arguments", {{"command", "echo b >> log.txt"}}}}})},
                     {"usage", {{"prompt_tokens", 10}, {"completion_tokens", 5}}},
                     {"tokens_total", 15}});
  write_text(f.workspace->root() / "log.txt", "a\n");  // c1's side effect happened
  f.journal->record("tool_result", {{"op", 0}, {"step", 0}, {"call_id", "c1"}, {"name", "shell"}, {"output", "ok a"}});

  Journal resumed(*f.store, "p", f.store->events("p"));
  f.server.push({.content = text_call("finish", {{"summary", "resumed"}})});
  Agent agent(AgentConfig{}, *f.client, f.tools, *f.context, resumed);
  AgentResult r = agent.run("fix status.txt", 0);
  CHECK(r.outcome == "finished");
  CHECK(r.steps == 2);
  CHECK(read_text(f.workspace->root() / "log.txt") == "a\nb\n");  // c1 not repeated, c2 ran once

  REQUIRE(f.server.request_count() == 1);
  json m = messages_of(f.server, 0);
  // system-less agent: user task, assistant (2 calls), tool c1, tool c2
  REQUIRE(m.size() == 4);
  CHECK(m[1]["tool_calls"].size() == 2);
  CHECK(m[2]["tool_call_id"] == "c1");
  CHECK(m[2]["content"] == "ok a");
  CHECK(m[3]["tool_call_id"] == "c2");
}
