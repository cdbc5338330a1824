// swe_fix.lua end to end on examples/swe_basic against the scripted model server: the model
// fixes the bug and also makes an unrelated edit; the recipe reverts that edit, and its final
// diff applies to a fresh copy of the example, where the tests then pass.
#include <catch2/catch.hpp>

#include "support/child_process.h"
#include "support/recipe_testbed.h"
#include "support/tool_call_text.h"

using namespace nagent;

namespace {

// No .pyc: a same-size edit within a second would otherwise run stale bytecode (the plain
// runner lacks the default policy's PYTHONDONTWRITEBYTECODE).
constexpr const char* kTestCmd = "PYTHONDONTWRITEBYTECODE=1 python3 -m unittest discover -s tests -t .";

struct SweFixture : RecipeTestbed {
  SweFixture() : RecipeTestbed("swe-fix", kTestCmd, {{"placeholder", ""}}) {
    std::filesystem::remove_all(workspace->root());
    make_example_repo("swe_basic", workspace->root());
    workspace = std::make_unique<Workspace>(dir.path() / "ws");
    context = std::make_unique<ToolContext>(ToolContext{*workspace, *runner, kTestCmd, 16 * 1024});
  }
};

}  // namespace

TEST_CASE("swe_fix.lua: the diff applies to a fresh copy and its tests pass; unrelated edits are reverted",
          "[swe_fix][e2e]") {
  SweFixture f;
  const std::string readme = read_text(f.workspace->root() / "README.md");
  f.server.push({.content = text_call("edit_file", {{"path", "stats/summary.py"},
                                                    {"old_str", "(ordered[mid] + ordered[mid + 1]) / 2"},
                                                    {"new_str", "(ordered[mid - 1] + ordered[mid]) / 2"}})});
  f.server.push({.content = text_call("edit_file", {{"path", "README.md"}, {"old_str", "a planted bug"},
                                                    {"new_str", "a planted bug (fixed)"}})});
  f.server.push({.content = text_call("run_tests", {})});
  f.server.push({.content = text_call("finish", {{"summary", "median used the wrong middle element"}})});

  auto r = f.run_file(std::string(NAGENT_SOURCE_DIR) + "/recipes/swe_fix.lua", {{"task", "median is wrong"}});
  CHECK(r.ok);
  CHECK_THAT(f.logged, Catch::Contains("reverted an edit the fix does not need: README.md"));
  CHECK(read_text(f.workspace->root() / "README.md") == readme);
  CHECK_THAT(f.printed, Catch::Contains("stats/summary.py") && !Catch::Contains("README.md"));

  TempDir fresh("swe-fresh");
  make_example_repo("swe_basic", fresh.path() / "repo");
  write_text(fresh.path() / "fix.diff", f.printed);
  const std::string repo = (fresh.path() / "repo").string();
  REQUIRE(run_child({"/usr/bin/git", "-C", repo, "apply", (fresh.path() / "fix.diff").string()}).exit_code == 0);
  ChildResult tests = run_child({"/bin/sh", "-c", "cd '" + repo + "' && " + kTestCmd + " 2>&1"});
  INFO(tests.out);
  CHECK(tests.exit_code == 0);
}
