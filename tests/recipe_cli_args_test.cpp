// `nagent run` hands --arg KEY=VALUE to the recipe as nagent.args.KEY and writes reports
// under --out; the research recipe runs from the CLI on its example corpus (real binary,
// scripted model server).
#include <catch2/catch.hpp>

#include "support/child_process.h"
#include "support/scripted_server.h"
#include "support/temp_repo.h"
#include "support/tool_call_text.h"

using nagent::json;

namespace {

struct Cli {
  TempDir home{"home"};
  TempDir work{"cli-args"};
  ScriptedServer server;
  ChildResult run(std::vector<std::string> args) {
    args.insert(args.begin(), NAGENT_BINARY);
    args.insert(args.end(), {"--endpoint", server.endpoint(), "--model", "scripted-model"});
    return run_child(args, {{"NAGENT_HOME", home.str()}, {"NAGENT_MAX_RETRIES", "0"}});
  }
};

}  // namespace

TEST_CASE("nagent run: --arg reaches nagent.args, reports go to --out", "[cli][recipe]") {
  Cli cli;
  write_text(cli.work.path() / "repo" / "f.txt", "x\n");
  write_text(cli.work.path() / "args.lua",
             "nagent.write_report('args.json', {colour = nagent.args.colour, size = nagent.args.size})\n"
             "return {ok = nagent.args.colour == 'blue', summary = 'colour ' .. nagent.args.colour}\n");
  const auto out = cli.work.path() / "out";
  ChildResult r = cli.run({"run", (cli.work.path() / "args.lua").string(), "--repo", (cli.work.path() / "repo").string(),
                           "--arg", "colour=blue", "--arg=size=a=b", "--out", out.string()});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  const json args = json::parse(read_text(out / "args.json"));
  CHECK(args["colour"] == "blue");
  CHECK(args["size"] == "a=b");

  ChildResult bad = cli.run({"run", (cli.work.path() / "args.lua").string(), "--arg", "test_cmd=x"});
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.err, Catch::Contains("use --test-cmd"));
  ChildResult no_eq = cli.run({"run", (cli.work.path() / "args.lua").string(), "--arg", "colour"});
  CHECK(no_eq.exit_code == 2);
  CHECK_THAT(no_eq.err, Catch::Contains("--arg expects KEY=VALUE"));
}

TEST_CASE("nagent run research: the README command on the example corpus", "[cli][research][e2e]") {
  Cli cli;
  cli.server.push({.content = text_call("search_corpus", {{"query", "electric buses winter range"}})});
  cli.server.push({.content = text_call(
                       "finish", {{"summary", "In January the range fell by about a fifth [transit/electric-buses.md#3 "
                                              "\"In the cold weeks of January the range dropped by about a fifth.\"]."}})});
  const auto out = cli.work.path() / "report";
  ChildResult r = cli.run({"run", "research", "--repo", std::string(NAGENT_SOURCE_DIR) + "/examples/research_corpus",
                           "--arg", "corpus=docs", "--task", "How do the electric buses cope with winter?", "--out",
                           out.string(), "--quiet"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  const json report = json::parse(read_text(out / "research.json"));
  REQUIRE(report["citations"].size() == 1);
  CHECK(report["citations"][0]["verified"] == true);
  CHECK(report["flagged"] == 0);
  CHECK_THAT(cli.server.requests()[1]["messages"].back()["content"].get<std::string>(),
             Catch::Contains("transit/electric-buses.md#3"));
}
