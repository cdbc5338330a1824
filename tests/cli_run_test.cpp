// End-to-end: the real nagent binary, run as a child process, drives recipes/swe_fix.lua on
// a copy of examples/swe_basic against the scripted model server (a test double on
// 127.0.0.1), with the real tools, the default sandbox policy and the SQLite store.
#include <catch2/catch.hpp>

#include <csignal>
#include <atomic>
#include <sstream>
#include <thread>

#include "agent/session_store.h"
#include "support/child_process.h"
#include "support/scripted_server.h"
#include "support/swe_basic_script.h"
#include "support/temp_repo.h"

using namespace nagent;

namespace {

struct Cli {
  TempDir home{"home"};
  TempDir repo_dir{"repo"};
  std::filesystem::path repo = repo_dir.path() / "swe_basic";
  Cli() { make_example_repo("swe_basic", repo); }

  std::map<std::string, std::string> env(const std::string& endpoint = "") const {
    return {{"NAGENT_HOME", home.str()}, {"NAGENT_ENDPOINT", endpoint}, {"NAGENT_MAX_RETRIES", "1"},
            {"NAGENT_DATA_DIR", NAGENT_SOURCE_DIR}};
  }
  ChildResult run(std::vector<std::string> args, const std::string& endpoint = "") const {
    args.insert(args.begin(), NAGENT_BINARY);
    return run_child(args, env(endpoint));
  }
  std::vector<std::string> fix_args(const std::string& session) const {
    return {"run", "swe_fix", "--repo", repo.string(), "--task", "median is wrong for even lengths",
            "--session", session, "--model", "scripted-model"};
  }
};

}  // namespace

TEST_CASE("nagent run swe_fix: the scripted model fixes the example and tests pass", "[e2e]") {
  Cli cli;
  ScriptedServer server;
  server.set_responder([](const json& request) { return swe_basic_step(assistant_turns(request)); });

  ChildResult r = cli.run(cli.fix_args("e2e-1"), server.endpoint());
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  // The recipe printed the final diff.
  CHECK(r.out.find("-    return (ordered[mid] + ordered[mid + 1]) / 2") != std::string::npos);
  CHECK(r.out.find("+    return (ordered[mid - 1] + ordered[mid]) / 2") != std::string::npos);
  // The tests really pass now, outside nagent.
  ChildResult tests = run_child({"/bin/sh", "-c", "cd '" + cli.repo.string() + "' && python3 -m unittest -q 2>&1"});
  CHECK(tests.exit_code == 0);
  // The tool results reached the model: the second request holds the file read in step 1.
  REQUIRE(server.request_count() == 4);
  const json second = server.requests()[1];
  CHECK(second["messages"].back()["role"] == "tool");
  CHECK(second["messages"].back()["content"].get<std::string>().find("def median(values):") != std::string::npos);
  // The session is in the store, complete.
  SessionStore store((cli.home.path() / "sessions.db").string());
  auto info = store.session("e2e-1");
  REQUIRE(info);
  CHECK(info->status == "succeeded");
  auto events = store.events("e2e-1");
  CHECK(events.front().type == "session_start");
  CHECK(events.back().type == "session_end");
  CHECK(events.back().data["diffstat"].get<std::string>().find("1 file changed") != std::string::npos);
  // The progress went to stderr, with the final summary.
  CHECK(r.err.find("succeeded") != std::string::npos);
}

TEST_CASE("nagent run: kill -9 mid-run, then --resume finishes the job without repeating work", "[e2e][resume]") {
  Cli cli;
  ScriptedServer server;
  std::atomic<bool> delayed{false};
  server.set_responder([&](const json& request) {
    int step = assistant_turns(request);
    ScriptedReply reply = swe_basic_step(step);
    if (step == 2 && !delayed.exchange(true)) reply.delay_ms = 1500;  // the first run dies here
    return reply;
  });

  {
    std::vector<std::string> argv = cli.fix_args("e2e-kill");
    argv.insert(argv.begin(), NAGENT_BINARY);
    ChildProcess child(argv, cli.env(server.endpoint()));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (server.request_count() < 3 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    REQUIRE(server.request_count() == 3);
    child.kill_hard();
    ChildResult killed = child.wait();
    REQUIRE(killed.signal == SIGKILL);
  }
  // The edit is on disk and recorded; the run did not finish.
  CHECK(read_text(cli.repo / "stats" / "summary.py").find("ordered[mid - 1] + ordered[mid]") != std::string::npos);

  ChildResult r = cli.run({"run", "--resume", "e2e-kill"}, server.endpoint());
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("+    return (ordered[mid - 1] + ordered[mid]) / 2") != std::string::npos);

  SessionStore store((cli.home.path() / "sessions.db").string());
  int edits = 0, resumes = 0, initial_test_runs = 0;
  for (const auto& e : store.events("e2e-kill")) {
    edits += e.type == "tool_result" && e.data["name"] == "edit_file";
    resumes += e.type == "session_resume";
    initial_test_runs += e.type == "op_end" && e.data["op"] == 0;
  }
  CHECK(edits == 1);              // the edit was not repeated
  CHECK(resumes == 1);
  CHECK(initial_test_runs == 1);  // the recipe's first run_tests was replayed, not re-run
  // After the resume the model saw the whole earlier conversation.
  const json last = server.requests().back();
  CHECK(assistant_turns(last) == 3);
  CHECK(store.session("e2e-kill")->status == "succeeded");
}

TEST_CASE("nagent run: exit codes and one-line errors", "[e2e][cli]") {
  Cli cli;
  SECTION("no endpoint, no --model and no shipped default model -> 2") {
    auto env = cli.env();
    env["NAGENT_DEFAULT_MODEL"] = (cli.home.path() / "no-such-model").string();
    ChildResult r = run_child({NAGENT_BINARY, "run", "swe_fix", "--repo", cli.repo.string()}, env);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--endpoint") != std::string::npos);
    CHECK(r.err.find("no-such-model") != std::string::npos);
  }
  SECTION("unknown recipe -> 2, listing the shipped ones") {
    ChildResult r = cli.run({"run", "no_such_recipe", "--repo", cli.repo.string()}, "http://127.0.0.1:9/v1");
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("swe_fix") != std::string::npos);
  }
  SECTION("bad option values -> 2") {
    CHECK(cli.run({"run", "swe_fix", "--max-steps", "lots"}).exit_code == 2);
    CHECK(cli.run({"run", "swe_fix", "--frobnicate"}).exit_code == 2);
    CHECK(cli.run({"run", "swe_fix", "--repo", "/no/such/dir"}, "http://127.0.0.1:9/v1").exit_code == 2);
    CHECK(cli.run({"run", "--resume", "missing-session"}).exit_code == 2);
    CHECK(cli.run({"frobnicate"}).exit_code == 2);
  }
  SECTION("model server unreachable -> 3") {
    ChildResult r = cli.run({"run", "swe_fix", "--repo", cli.repo.string(), "--model", "m"}, "http://127.0.0.1:9/v1");
    CHECK(r.exit_code == 3);
    CHECK(r.err.find("127.0.0.1:9") != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') >= 1);
  }
  SECTION("a recipe that reports failure -> 1; a broken recipe -> 2 with file:line") {
    write_text(cli.repo_dir.path() / "fails.lua", "return {ok = false, summary = 'nope'}\n");
    write_text(cli.repo_dir.path() / "broken.lua", "\nlocal x = nagent.tool('nonexistent')\n");
    ScriptedServer server;
    CHECK(cli.run({"run", (cli.repo_dir.path() / "fails.lua").string(), "--repo", cli.repo.string(), "--model", "m"},
                  server.endpoint())
              .exit_code == 1);
    ChildResult r = cli.run(
        {"run", (cli.repo_dir.path() / "broken.lua").string(), "--repo", cli.repo.string(), "--model", "m"},
        server.endpoint());
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("broken.lua:2:") != std::string::npos);
  }
  SECTION("--help and --version -> 0") {
    CHECK(cli.run({"--version"}).exit_code == 0);
    ChildResult help = cli.run({"--help"});
    CHECK(help.exit_code == 0);
    CHECK(help.out.find("sessions") != std::string::npos);
    CHECK(cli.run({"run", "--help"}).out.find("--resume") != std::string::npos);
  }
}

TEST_CASE("nagent tools and sessions", "[e2e][cli]") {
  Cli cli;
  ChildResult tools = cli.run({"tools", "--json"});
  REQUIRE(tools.exit_code == 0);
  json schemas = json::parse(tools.out);
  std::vector<std::string> names;
  for (const auto& s : schemas) names.push_back(s["function"]["name"]);
  for (const char* expected : {"read_file", "write_file", "edit_file", "apply_patch", "list_dir", "search", "shell",
                               "run_tests", "finish"})
    CHECK(std::find(names.begin(), names.end(), expected) != names.end());
  CHECK(cli.run({"tools"}).out.find("edit_file") != std::string::npos);

  ScriptedServer server;
  server.set_responder([](const json& request) { return swe_basic_step(assistant_turns(request)); });
  std::vector<std::string> args = cli.fix_args("listed");
  args.push_back("--json");
  ChildResult r = cli.run(args, server.endpoint());
  REQUIRE(r.exit_code == 0);
  // --json: stdout is JSON Lines only.
  std::istringstream lines(r.out);
  std::string line;
  int n = 0, replies = 0;
  while (std::getline(lines, line)) {
    json j = json::parse(line);
    replies += j["type"] == "model_reply";
    ++n;
  }
  CHECK(n > 10);
  CHECK(replies == 4);

  ChildResult list = cli.run({"sessions", "list"});
  CHECK(list.out.find("listed") != std::string::npos);
  CHECK(list.out.find("succeeded") != std::string::npos);
  ChildResult show = cli.run({"sessions", "show", "listed"});
  CHECK(show.exit_code == 0);
  CHECK(show.out.find("edit_file stats/summary.py") != std::string::npos);
  ChildResult exported = cli.run({"sessions", "export", "listed"});
  REQUIRE(exported.exit_code == 0);
  std::istringstream exported_lines(exported.out);
  int exported_n = 0;
  while (std::getline(exported_lines, line)) {
    CHECK(json::parse(line)["session"] == "listed");
    ++exported_n;
  }
  CHECK(exported_n == n);
  CHECK(cli.run({"sessions", "show", "nope"}).exit_code == 2);
}
