// The recipe host API beyond the basics: Lua-defined tools, hooks, structured output,
// concurrent sub-agents, git helpers, reports, and the errors misuse gives (file:line).
#include <catch2/catch.hpp>

#include "support/child_process.h"
#include "support/long_session_script.h"
#include "support/recipe_testbed.h"
#include "support/tool_call_text.h"

using namespace nagent;

namespace {

struct ApiFixture : RecipeTestbed {
  ApiFixture() : RecipeTestbed("recipe-api", "true", {{"hello.txt", "hello\n"}, {"src/a.py", "x = 1\n"}}) {}

  void git(std::vector<std::string> args) {
    std::vector<std::string> argv = {"/usr/bin/git", "-C", workspace->root().string(), "-c", "user.name=t",
                                     "-c", "user.email=t@localhost"};
    argv.insert(argv.end(), args.begin(), args.end());
    REQUIRE(run_child(argv).exit_code == 0);
  }
  void make_git_repo() {
    git({"init", "-q"});
    git({"add", "-A"});
    git({"commit", "-qm", "base"});
  }
  // The content of the last message of the index-th chat request.
  std::string last_message(size_t index) {
    return server.requests().at(index)["messages"].back()["content"].get<std::string>();
  }
};

}  // namespace

TEST_CASE("recipe api: a Lua-defined tool is offered to the model and runs its program in the sandbox",
          "[recipe][api]") {
  ApiFixture f;
  f.server.push({.content = text_call("word_count", {{"path", "hello.txt"}})});
  f.server.push({.content = text_call("finish", {{"summary", "counted"}})});
  auto r = f.run(R"lua(
    nagent.define_tool{
      name = "word_count",
      description = "Counts the words of a file",
      parameters = {type = "object", properties = {path = {type = "string"}}, required = {"path"}},
      handler = function(args)
        local r = nagent.exec{argv = {"wc", "-w", args.path}}
        if not r.ok then return nil, "wc failed: " .. r.stderr end
        return {output = "words: " .. r.stdout:match("%d+"), data = {words = tonumber(r.stdout:match("%d+"))}}
      end,
    }
    local a = nagent.agent{tools = {"word_count", "finish"}}
    local result = a:run("count the words")
    local direct = nagent.tool("word_count", {path = "hello.txt"})
    return {ok = result.ok and direct.data.words == 1, summary = direct.output}
  )lua");
  CHECK(r.ok);
  CHECK(r.summary == "words: 1");
  const json tools = f.server.requests()[0]["tools"];
  REQUIRE(tools.size() == 4);  // the two listed, then the artifact tools every agent has
  CHECK(tools[0]["function"]["name"] == "word_count");
  CHECK(tools[2]["function"]["name"] == "read_artifact");
  CHECK(tools[3]["function"]["name"] == "search_artifact");
  CHECK(f.last_message(1) == "words: 1");
}

TEST_CASE("recipe api: a Lua tool's error reaches the model with the recipe's file and line", "[recipe][api]") {
  ApiFixture f;
  f.server.push({.content = text_call("broken", {})});
  f.server.push({.content = text_call("finish", {{"summary", "x"}})});
  CHECK(f.run("nagent.define_tool{name = 'broken', description = 'd',\n"
              "  handler = function() error('handler bug') end}\n"
              "return nagent.agent{tools = {'broken', 'finish'}}:run('t').ok")
            .ok);
  CHECK_THAT(f.last_message(1), Catch::Contains("recipe.lua:2: handler bug"));
}

TEST_CASE("recipe api: hooks deny a call with a reason the model sees, rewrite results, see the finish",
          "[recipe][api]") {
  ApiFixture f;
  f.server.push({.content = text_call("write_file", {{"path", "hello.txt"}, {"content", "bye"}})});
  f.server.push({.content = text_call("read_file", {{"path", "hello.txt"}})});
  f.server.push({.content = text_call("finish", {{"summary", "looked"}})});
  auto r = f.run(R"lua(
    local finished
    local a = nagent.agent{
      tools = {"read_file", "write_file", "finish"},
      before_tool = function(call)
        if call.name == "write_file" then return "this review is read-only (" .. call.arguments.path .. ")" end
      end,
      after_tool = function(call, result)
        if call.name == "read_file" then return "[checked] " .. result.output end
      end,
      on_finish = function(result) finished = result.summary end,
    }
    local result = a:run("look at hello.txt")
    return {ok = result.ok and finished == "looked", summary = nagent.read_file("hello.txt")}
  )lua");
  CHECK(r.ok);
  CHECK(r.summary == "hello\n");  // the write never ran
  CHECK(f.last_message(1) == "Denied: this review is read-only (hello.txt)");
  CHECK_THAT(f.last_message(2), Catch::StartsWith("[checked] "));
  bool denied_event = false;
  for (const auto& e : f.store->events("t"))
    denied_event |= e.type == "tool_result" && e.data.value("denied", false) && e.data["name"] == "write_file";
  CHECK(denied_event);
}

TEST_CASE("recipe api: structured output is validated against the schema and retried", "[recipe][api]") {
  ApiFixture f;
  f.server.push({.content = "Sure! Here it is."});
  f.server.push({.content = "```json\n{\"verdict\": \"maybe\", \"line\": 3}\n```"});
  f.server.push({.content = "{\"verdict\": \"pass\", \"line\": 3}"});
  auto r = f.run(R"lua(
    local schema = {type = "object", required = {"verdict", "line"},
                    properties = {verdict = {enum = {"pass", "fail"}}, line = {type = "integer"}}}
    local v, err = nagent.agent{system = "judge"}:structured("Judge it.", schema)
    return {ok = v ~= nil and v.verdict == "pass" and v.line == 3, summary = tostring(err)}
  )lua");
  CHECK(r.ok);
  REQUIRE(f.server.request_count() == 3);
  CHECK_THAT(f.last_message(1), Catch::Contains("no JSON object"));
  CHECK_THAT(f.last_message(2), Catch::Contains("$.verdict: must be one of \"pass\", \"fail\""));
  CHECK(f.server.requests()[0]["tools"].empty());

  f.server.push({.content = "no"});
  f.server.push({.content = "still no"});
  auto failed = f.run(R"lua(
    local v, err = nagent.agent{}:structured("x", {type = "object"}, {retries = 1})
    return {ok = v == nil, summary = err}
  )lua");
  CHECK(failed.ok);
  CHECK_THAT(failed.summary, Catch::Contains("no valid JSON after 2 replies"));
}

TEST_CASE("recipe api: parallel sub-agents run at once, each with its own context", "[recipe][api]") {
  ApiFixture f;
  // alpha's tool waits (bounded) until beta's tool has run: it can only succeed if the two
  // agents are in flight at the same time.
  f.server.set_responder([&](const json& request) {
    const json& last = request["messages"].back();
    if (last["role"] == "tool") return ScriptedReply{.content = text_call("finish", {{"summary", last["content"]}})};
    const bool alpha = last["content"] == "alpha";
    return ScriptedReply{.content = text_call(alpha ? "wait_for_beta" : "mark_beta", {})};
  });
  auto r = f.run(R"lua(
    local beta_ran = false
    nagent.define_tool{name = "mark_beta", description = "d", handler = function()
      beta_ran = true
      return "beta ran"
    end}
    nagent.define_tool{name = "wait_for_beta", description = "d", handler = function()
      for _ = 1, 200 do
        if beta_ran then return "saw beta" end
        nagent.exec{argv = {"sleep", "0.05"}}
      end
      return "beta never ran"
    end}
    local a = nagent.agent{name = "a", tools = {"wait_for_beta", "finish"}}
    local b = nagent.agent{name = "b", tools = {"mark_beta", "finish"}}
    local results = nagent.parallel{{agent = a, task = "alpha"}, {agent = b, task = "beta"}}
    return {ok = #results == 2 and results[1].ok and results[2].ok,
            summary = results[1].summary .. "|" .. results[2].summary}
  )lua");
  CHECK(r.ok);
  CHECK(r.summary == "saw beta|beta ran");
  for (const auto& req : f.server.requests())
    CHECK(req["messages"][0]["content"] == (req["tools"][0]["function"]["name"] == "wait_for_beta" ? "alpha" : "beta"));
}

TEST_CASE("recipe api: an agent's tool can delegate to a sub-agent and get its summary", "[recipe][api]") {
  ApiFixture f;
  f.server.push({.content = text_call("delegate", {{"task", "find the answer"}})});
  f.server.push({.content = text_call("finish", {{"summary", "the answer is 42"}})});  // the sub-agent
  f.server.push({.content = text_call("finish", {{"summary", "done"}})});
  auto r = f.run(R"lua(
    local helper = nagent.agent{name = "helper", tools = {"finish"}}
    nagent.define_tool{name = "delegate", description = "Hand a sub-task to a helper",
      parameters = {type = "object", properties = {task = {type = "string"}}, required = {"task"}},
      handler = function(args) return helper:run(args.task).summary end}
    return nagent.agent{tools = {"delegate", "finish"}}:run("go").ok
  )lua");
  CHECK(r.ok);
  REQUIRE(f.server.request_count() == 3);
  CHECK(f.server.requests()[1]["messages"][0]["content"] == "find the answer");
  CHECK(f.last_message(2) == "the answer is 42");
  // The nested run is journaled apart from the top-level ops.
  bool nested = false;
  for (const auto& e : f.store->events("t"))
    nested |= e.type == "agent_start" && e.data["op"].get<int>() >= Journal::kNestedOpBase;
  CHECK(nested);
}

TEST_CASE("recipe api: git helpers", "[recipe][api][git]") {
  ApiFixture f;
  f.make_git_repo();
  auto r = f.run(R"lua(
    local patch = "--- a/hello.txt\n+++ b/hello.txt\n@@ -1 +1 @@\n-hello\n+hello world\n"
    assert(nagent.git_apply(patch, {check = true}))
    assert(nagent.read_file("hello.txt") == "hello\n")     -- check only
    assert(nagent.git_apply(patch))
    local ok, err = nagent.git_apply(patch)
    assert(ok == nil and err:find("patch"), tostring(err))
    nagent.write_file("new.txt", "n\n")
    local st = nagent.git_status()
    assert(#st == 2 and st[1].path == "hello.txt" and st[1].status == "M" and st[2].status == "??")
    assert(nagent.git_diff():find("+hello world", 1, true) and nagent.git_diff():find("new.txt", 1, true))
    assert(nagent.git_diff{paths = {"new.txt"}}:find("hello world", 1, true) == nil)
    local previous = assert(nagent.git_branch("nagent/tmp"))
    local hash = assert(nagent.git_commit("try"))
    assert(#hash == 40)
    assert(nagent.git_show("HEAD", "hello.txt") == "hello world\n")
    assert(nagent.git_diff{base = previous}:find("+hello world", 1, true))
    assert(nagent.git_switch(previous))
    assert(nagent.read_file("hello.txt") == "hello\n")
    assert(select(2, nagent.git_show("HEAD", "nope.txt")))
    return #nagent.git_status() == 0
  )lua");
  CHECK(r.ok);
}

TEST_CASE("recipe api: reports and JSON", "[recipe][api]") {
  ApiFixture f;
  auto r = f.run(R"lua(
    local md = nagent.write_report("r.md", "# Report\n")
    local js = nagent.write_report("r.json", {verdicts = {{rule = 1, verdict = "pass"}}})
    local v = nagent.json_decode(nagent.json_encode({a = {1, 2}, b = "x"}))
    local bad, err = nagent.json_decode("{nope")
    return {ok = v.a[2] == 2 and v.b == "x" and bad == nil and err ~= nil, summary = md .. "|" .. js}
  )lua");
  CHECK(r.ok);
  CHECK(read_text(f.reports / "r.md") == "# Report\n");
  CHECK(json::parse(read_text(f.reports / "r.json"))["verdicts"][0]["verdict"] == "pass");
  CHECK(r.summary == (f.reports / "r.md").string() + "|" + (f.reports / "r.json").string());
}

TEST_CASE("recipe api: misuse names the recipe file and line", "[recipe][api]") {
  ApiFixture f;
  const std::pair<const char*, const char*> cases[] = {
      {"nagent.define_tool{name = 'x', description = 'd'}", "field 'handler' must be a function"},
      {"nagent.define_tool{name = 'Bad Name', description = 'd', handler = print}", "must be lower-case"},
      {"nagent.define_tool{name = 'read_file', description = 'd', handler = print}", "exists already"},
      {"nagent.define_tool{name = 'x', description = 'd', handler = print, colour = 1}", "unknown field 'colour'"},
      {"nagent.exec{argv = 'ls'}", "'argv' must be a non-empty list"},
      {"nagent.exec{}", "needs argv"},
      {"nagent.parallel{{task = 'x'}}", "item 1: field 'agent' must be an agent"},
      {"nagent.agent{}:structured('x', 'not a table')", "the schema must be a table"},
      {"nagent.agent{before_tool = 'no'}", "'before_tool' must be a function"},
      {"nagent.write_report('../x.md', 'x')", "must be a plain file name"},
      {"nagent.write_report('x.md', 42)", "must be a string or a table"},
      {"nagent.git_diff{base = 3}", "field 'base' must be a string"},
      {"nagent.corpus_index('nope')", "not a folder"},
      {"nagent.corpus_index('.').search('x')", "use a colon"},
      {"nagent.agent{}.structured()", "use a colon"},
  };
  for (const auto& [code, message] : cases) {
    INFO(code);
    REQUIRE_THROWS_WITH(f.run(std::string("\n\n") + code + "\nreturn true"),
                        Catch::Contains("recipe.lua:3:") && Catch::Contains(message));
  }
}

TEST_CASE("recipe api: an agent can have its own model backend", "[recipe][api]") {
  ApiFixture f;
  ScriptedServer other;
  other.push({.content = text_call("finish", {{"summary", "from the other server"}})});
  auto r = f.run("local a = nagent.agent{endpoint = '" + other.endpoint() +
                 "', model = 'other-model', tools = {'finish'}}\n"
                 "local res = a:run('x')\nreturn {ok = res.ok, summary = res.summary}");
  CHECK(r.ok);
  CHECK(r.summary == "from the other server");
  CHECK(f.server.request_count() == 0);
  REQUIRE(other.request_count() == 1);
  CHECK(other.requests()[0]["model"] == "other-model");
}

TEST_CASE("recipe api: ops inside a Lua tool are nested, so a resume replays the top-level ops in order",
          "[recipe][api][resume]") {
  ApiFixture f;
  const std::string code = R"lua(
    nagent.define_tool{name = "bump", description = "d", handler = function()
      return nagent.tool("shell", {command = "echo x >> inner.txt"}).output
    end}
    local r = nagent.agent{tools = {"bump", "finish"}}:run("go")
    local t = nagent.tool("shell", {command = "echo y >> outer.txt; cat outer.txt"})
    if nagent.args.fail then error("crash after the tools") end
    return {ok = r.ok, summary = t.output}
  )lua";
  f.server.push({.content = text_call("bump", {})});
  f.server.push({.content = text_call("finish", {{"summary", "bumped"}})});
  REQUIRE_THROWS(f.run(code, {{"fail", true}}));
  // Resume: the agent and the outer shell are replayed from the journal; nothing runs again
  // (the server has no replies left), and the outer shell's result is its own, not the inner one's.
  f.journal = std::make_unique<Journal>(*f.store, "t", f.store->events("t"));
  auto r = f.run(code);
  CHECK(r.ok);
  CHECK(r.summary.find('y') != std::string::npos);
  CHECK(read_text(f.workspace->root() / "inner.txt") == "x\n");
  CHECK(read_text(f.workspace->root() / "outer.txt") == "y\n");
  CHECK(f.server.request_count() == 2);
}

TEST_CASE("recipe api: a resumed recipe replays structured output, exec and git ops from the journal",
          "[recipe][api][resume]") {
  ApiFixture f;
  f.make_git_repo();
  const std::string code = R"lua(
    local v = assert(nagent.agent{}:structured("n?", {type = "object", required = {"n"}}))
    local e = nagent.exec{command = "echo run >> runs.txt; wc -l < runs.txt"}
    assert(nagent.git_apply("--- a/hello.txt\n+++ b/hello.txt\n@@ -1 +1 @@\n-hello\n+hi\n"))
    if nagent.args.fail then error("crash") end
    return {ok = v.n == 7, summary = e.stdout}
  )lua";
  f.server.push({.content = "{\"n\": 7}"});
  REQUIRE_THROWS(f.run(code, {{"fail", true}}));
  f.journal = std::make_unique<Journal>(*f.store, "t", f.store->events("t"));
  auto r = f.run(code);  // no reply is queued: a second model call would fail the run
  CHECK(r.ok);
  CHECK(r.summary == "1\n");
  CHECK(read_text(f.workspace->root() / "runs.txt") == "run\n");
  CHECK(read_text(f.workspace->root() / "hello.txt") == "hi\n");  // applied once, not refused as applied twice
  CHECK(f.server.request_count() == 1);
}

TEST_CASE("recipe api: an agent can run its tools under its own sandbox policy", "[recipe][api][sandbox]") {
  ApiFixture f;
  f.server.push({.content = text_call("shell", {{"command", "echo x > written.txt"}})});
  f.server.push({.content = text_call("finish", {{"summary", "tried"}})});
  auto r = f.run(R"lua(
    local a = nagent.agent{policy = "readonly", tools = {"shell", "finish"}}
    return a:run("write a file").ok
  )lua");
  CHECK(r.ok);
  // The run's runner (plain) could write; the agent's readonly sandbox could not.
  CHECK_FALSE(std::filesystem::exists(f.workspace->root() / "written.txt"));
  CHECK_THAT(f.last_message(1), !Catch::Contains("[exit code 0]") && Catch::Contains("exit code"));
  REQUIRE_THROWS_WITH(f.run("\n\nnagent.agent{policy = 'readonly', tools = {'write_file'}}"),
                      Catch::Contains("recipe.lua:3:") && Catch::Contains("does not allow the tool 'write_file'"));
  REQUIRE_THROWS_WITH(f.run("nagent.agent{policy = 'no-such-policy'}"),
                      Catch::Contains("recipe.lua:1:") && Catch::Contains("policy 'no-such-policy'"));
}

TEST_CASE("recipe api: on_compaction writes the checkpoint instead of the model; context settings are checked",
          "[recipe][api][context]") {
  ApiFixture f;
  std::string prose;
  for (int i = 0; i < 50; ++i) prose += "a long line of thinking aloud about the task, number " + std::to_string(i) + "\n";
  f.server.set_responder([&](const json& request) -> ScriptedReply {
    const int step = requested_step(request);
    if (step >= 12) return finish_reply(step);
    return {.content = prose,
            .tool_calls = json::array({scripted_call(step, "shell", {{"command", "echo step-" + std::to_string(step)}})})};
  });
  auto r = f.run(R"lua(
    local seen = {}
    local a = nagent.agent{
      tools = {"shell", "finish"},
      context = {window = 8192, keep_recent = 1},
      on_compaction = function(info)
        seen[#seen + 1] = info
        return "## Goal\nfrom the hook, turns " .. info.first_step .. "-" .. info.last_step
      end,
    }
    local result = a:run("count the turns")
    local first = seen[1]
    return {ok = result.ok and #seen >= 1 and first.window == 8192 and #first.messages > 0 and
                 first.summary_tokens == 512 and first.transcript:find("step-0", 1, true) ~= nil,
            summary = tostring(#seen)}
  )lua");
  CHECK(r.ok);
  for (const auto& request : f.server.requests()) CHECK_FALSE(is_checkpoint_request(request));
  int compactions = 0;
  for (const auto& e : f.store->events("t")) {
    if (e.type != "context_compaction") continue;
    ++compactions;
    CHECK(e.data["summary_source"] == "hook");
    CHECK(e.data["summary"].get<std::string>().find("## Goal\nfrom the hook, turns 1-") != std::string::npos);
  }
  CHECK(compactions == std::stoi(r.summary));
  bool checkpoint_sent = false;
  const json last = f.server.requests().back()["messages"];
  for (const auto& m : last)
    checkpoint_sent |= m["content"].get<std::string>().rfind("[Checkpoint: steps 1-", 0) == 0;
  CHECK(checkpoint_sent);

  SECTION("bad settings and a hook returning the wrong type name the recipe line") {
    ApiFixture g;
    auto bad = [&](const std::string& code) {
      try {
        g.run(code);
      } catch (const RecipeError& e) {
        return std::string(e.what());
      }
      return std::string("no error");
    };
    CHECK_THAT(bad("local a = nagent.agent{context = {threshold = 2}}"),
               Catch::Contains("recipe.lua:1:") && Catch::Contains("context.threshold must be a number in (0"));
    CHECK_THAT(bad("local a = nagent.agent{context = {windw = 2}}"), Catch::Contains("unknown setting 'windw'"));
    CHECK_THAT(bad("local a = nagent.agent{on_compaction = 3}"), Catch::Contains("'on_compaction' must be a function"));
  }
}

