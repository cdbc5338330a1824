// compliance.lua end to end on examples/compliance_basic against the scripted model server:
// the planted violations get the expected verdicts, each with path:line evidence, and the
// report says which rules the scanners decided and which the model judged.
#include <catch2/catch.hpp>

#include "support/recipe_testbed.h"
#include "support/tool_call_text.h"

using namespace nagent;

namespace {

struct ComplianceFixture : RecipeTestbed {
  ComplianceFixture() : RecipeTestbed("compliance", "true", {{"placeholder", ""}}) {
    std::filesystem::remove_all(workspace->root());
    make_example_repo("compliance_basic", workspace->root());
    workspace = std::make_unique<Workspace>(dir.path() / "ws");
    context = std::make_unique<ToolContext>(ToolContext{*workspace, *runner, "true"});
  }
  RecipeOutcome run_compliance(const std::string& policy = "POLICY.md") {
    return run_file(std::string(NAGENT_SOURCE_DIR) + "/recipes/compliance.lua", {{"rules", policy}});
  }
  json rule(const json& report, int number) {
    for (const auto& r : report["rules"])
      if (r["number"] == number) return r;
    FAIL("no rule " << number);
    return {};
  }
};

std::string verdict_json(const std::string& verdict, const std::string& path, int line, const std::string& quote) {
  return json{{"verdict", verdict},
              {"reason", "see the evidence"},
              {"evidence", json::array({{{"path", path}, {"line", line}, {"quote", quote}}})}}
      .dump();
}

}  // namespace

TEST_CASE("compliance.lua end to end: expected verdicts for the planted violations", "[compliance][e2e]") {
  ComplianceFixture f;
  // Rule 3 (judge): the scanner's candidate goes to the model.
  f.server.push({.content = verdict_json("fail", "src/users.py", 18, "user.email")});
  // Rule 6 (no check): the model investigates, then gives its verdict.
  f.server.push({.content = text_call("grep_files", {{"pattern", "@app%.%a+"}, {"glob", "*.py"}})});
  f.server.push({.content = text_call("finish", {{"summary", "src/app.py:11 POST /users has no login check"}})});
  f.server.push({.content = verdict_json("fail", "src/app.py", 11, "@app.post(\"/users\")")});

  auto r = f.run_compliance();
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.summary, Catch::Contains("0 pass, 5 fail, 1 not applicable, 0 need a human"));
  REQUIRE(f.server.request_count() == 4);
  // The Lua scanner tool answered the model during the investigation.
  CHECK_THAT(f.server.requests()[2]["messages"].back()["content"].get<std::string>(),
             Catch::Contains("src/app.py:11: @app.post(\"/users\")") && Catch::Contains("src/app.py:17"));

  const json report = json::parse(read_text(f.reports / "compliance.json"));
  REQUIRE(report["rules"].size() == 6);
  const json r1 = f.rule(report, 1);
  CHECK(r1["verdict"] == "fail");
  CHECK(r1["decided_by"] == "scanner");
  REQUIRE(r1["evidence"].size() == 1);
  CHECK(r1["evidence"][0]["path"] == "src/payments.py");
  CHECK(r1["evidence"][0]["line"] == 1);

  const json r2 = f.rule(report, 2);
  CHECK(r2["verdict"] == "fail");
  REQUIRE(r2["evidence"].size() == 1);
  CHECK(r2["evidence"][0]["path"] == "src/payments.py");
  CHECK(r2["evidence"][0]["quote"] == "PROVIDER_KEY_ID = \"AKIAIOSFODNN7EXAMPLE\"");

  const json r3 = f.rule(report, 3);
  CHECK(r3["verdict"] == "fail");
  CHECK(r3["decided_by"] == "model");
  CHECK(r3["evidence"][0]["verified"] == true);

  const json r4 = f.rule(report, 4);
  CHECK(r4["verdict"] == "fail");
  CHECK(r4["evidence"][0]["path"] == "requirements.txt");
  CHECK(r4["evidence"][0]["line"] == 4);

  CHECK(f.rule(report, 5)["verdict"] == "not_applicable");
  const json r6 = f.rule(report, 6);
  CHECK(r6["verdict"] == "fail");
  CHECK(r6["decided_by"] == "model");

  const std::string md = read_text(f.reports / "compliance.md");
  CHECK_THAT(md, Catch::Contains("| 1 | fail | scanner |") && Catch::Contains("| 3 | fail | model |") &&
                     Catch::Contains("`src/payments.py:4`: `PROVIDER_KEY_ID = \"AKIAIOSFODNN7EXAMPLE\"`"));
}

TEST_CASE("compliance.lua: a model verdict whose quote is not in the file needs a human", "[compliance]") {
  ComplianceFixture f;
  write_text(f.workspace->root() / "ONE.md", "1. Personal data is never logged.\n"
                                              "   check: judge files=`src/**/*.py` pattern=`log%.info`\n");
  f.server.push({.content = verdict_json("pass", "src/users.py", 18, "log.debug(\"nothing personal\")")});
  auto r = f.run_compliance("ONE.md");
  CHECK_FALSE(r.ok);
  const json report = json::parse(read_text(f.reports / "compliance.json"));
  CHECK(report["rules"][0]["verdict"] == "needs_human");
  CHECK(report["rules"][0]["evidence"][0]["verified"] == false);
}

TEST_CASE("compliance.lua: a policy error names the problem", "[compliance]") {
  ComplianceFixture f;
  write_text(f.workspace->root() / "BAD.md", "1. Rule.\n   check: sniff files=`*` pattern=`x`\n");
  REQUIRE_THROWS_WITH(f.run_compliance("BAD.md"), Catch::Contains("compliance.lua:") &&
                                                      Catch::Contains("unknown check 'sniff'"));
  REQUIRE_THROWS_WITH(f.run_compliance("NOPE.md"), Catch::Contains("cannot read the policy"));
}

TEST_CASE("compliance.lua: a contract clause checklist over a document set, decided by scanners alone",
          "[compliance]") {
  ComplianceFixture f;
  auto r = f.run_compliance("CONTRACTS.md");
  CHECK_FALSE(r.ok);
  CHECK(f.server.request_count() == 0);
  const json report = json::parse(read_text(f.reports / "compliance.json"));
  CHECK(f.rule(report, 1)["verdict"] == "pass");
  CHECK(f.rule(report, 1)["evidence"][0]["path"] == "contracts/supplier-agreement.md");
  CHECK(f.rule(report, 1)["evidence"][0]["line"] == 10);
  CHECK(f.rule(report, 2)["verdict"] == "fail");
  CHECK(f.rule(report, 3)["verdict"] == "pass");
  for (const auto& rule : report["rules"]) CHECK(rule["decided_by"] == "scanner");
}
