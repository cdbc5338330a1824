// review.lua end to end on examples/review_basic (with its change applied) against the
// scripted model server: findings on changed lines are kept with file:line and severity,
// others are discarded, suggested patches are checked, shell commands other than read-only git are denied by the hook.
#include <catch2/catch.hpp>

#include "support/child_process.h"
#include "support/recipe_testbed.h"
#include "support/tool_call_text.h"

using namespace nagent;

namespace {

struct ReviewFixture : RecipeTestbed {
  ReviewFixture() : RecipeTestbed("review", "true", {{"placeholder", ""}}) {
    std::filesystem::remove_all(workspace->root());
    make_example_repo("review_basic", workspace->root());
    workspace = std::make_unique<Workspace>(dir.path() / "ws");
    context = std::make_unique<ToolContext>(ToolContext{*workspace, *runner, "true"});
  }
  void apply_change() {
    REQUIRE(run_child({"/usr/bin/git", "-C", workspace->root().string(), "apply", "change.patch"}).exit_code == 0);
  }
  RecipeOutcome review(json args = json::object()) {
    return run_file(std::string(NAGENT_SOURCE_DIR) + "/recipes/review.lua", args);
  }
};

}  // namespace

TEST_CASE("review.lua end to end: findings with file:line, severity and a checked patch", "[review][e2e]") {
  ReviewFixture f;
  f.apply_change();
  f.server.push({.content = text_call("shell", {{"command", "git checkout -- . && rm -rf inventory"}})});
  f.server.push({.content = text_call("read_file", {{"path", "inventory/stock.py"}})});
  f.server.push({.content = text_call("finish", {{"summary", "reserve refuses the last unit; release lacks checks"}})});
  const std::string patch =
      "--- a/inventory/stock.py\n+++ b/inventory/stock.py\n@@ -5,7 +5,7 @@\n"
      "     \"\"\"Takes qty units of item out of stock; False when there are not enough.\"\"\"\n"
      "     if qty <= 0:\n         raise ValueError(\"qty must be positive\")\n"
      "-    if stock.get(item, 0) <= qty:\n+    if stock.get(item, 0) < qty:\n"
      "         return False\n     stock[item] -= qty\n     return True\n";
  const json findings = {
      {"findings",
       {{{"file", "inventory/stock.py"}, {"line", 8}, {"severity", "major"},
         {"title", "reserve() refuses the last units"},
         {"explanation", "With <= a stock of exactly qty units is refused."}, {"suggested_patch", patch}},
        {{"file", "inventory/stock.py"}, {"line", 16}, {"severity", "minor"},
         {"title", "release() fails for unknown items"}, {"explanation", "stock[item] raises KeyError."}},
        {{"file", "tests/test_stock.py"}, {"line", 3}, {"severity", "nit"}, {"title", "import order"},
         {"explanation", "unrelated"}}}}};
  f.server.push({.content = findings.dump()});

  auto r = f.review();
  CHECK_FALSE(r.ok);  // a major finding blocks
  CHECK_THAT(r.summary, Catch::Contains("2 finding(s), 1 blocking"));
  // The hook denied the destructive command with a reason the model saw; the file is untouched.
  CHECK_THAT(f.server.requests()[1]["messages"].back()["content"].get<std::string>(),
             Catch::StartsWith("Denied: a review only reads"));
  CHECK_THAT(read_text(f.workspace->root() / "inventory/stock.py"), Catch::Contains("def release"));

  const json out = json::parse(read_text(f.reports / "review.json"));
  REQUIRE(out["findings"].size() == 2);
  CHECK(out["findings"][0]["severity"] == "major");
  CHECK(out["findings"][0]["line"] == 8);
  CHECK(out["findings"][0]["patch_applies"] == true);
  CHECK(out["findings"][1]["file"] == "inventory/stock.py");
  REQUIRE(out["discarded"].size() == 1);
  CHECK_THAT(out["discarded"][0]["discarded_because"].get<std::string>(), Catch::Contains("not part of the change"));
  const std::string md = read_text(f.reports / "review.md");
  CHECK_THAT(md, Catch::Contains("| major | `inventory/stock.py:8` | reserve() refuses the last units |") &&
                     Catch::Contains("(applies cleanly)"));
}

TEST_CASE("review.lua: no changes, nothing to review", "[review]") {
  ReviewFixture f;
  auto r = f.review();
  CHECK(r.ok);
  CHECK_THAT(r.summary, Catch::Contains("nothing to review"));
  CHECK(f.server.request_count() == 0);
}
