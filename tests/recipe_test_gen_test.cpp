// test_gen.lua end to end on examples/test_gen_basic against the scripted model server: the
// new tests fail before the planted fix and pass after it; the module stays unchanged.
#include <catch2/catch.hpp>

#include "support/recipe_testbed.h"
#include "support/tool_call_text.h"

using namespace nagent;

namespace {

// No .pyc: a same-size edit within a second would otherwise run stale bytecode (the plain
// runner lacks the default policy's PYTHONDONTWRITEBYTECODE).
constexpr const char* kTestCmd = "PYTHONDONTWRITEBYTECODE=1 python3 -m unittest discover -s tests -t .";

struct TestGenFixture : RecipeTestbed {
  TestGenFixture() : RecipeTestbed("test-gen", kTestCmd, {{"placeholder", ""}}) {
    std::filesystem::remove_all(workspace->root());
    make_example_repo("test_gen_basic", workspace->root());
    workspace = std::make_unique<Workspace>(dir.path() / "ws");
    context = std::make_unique<ToolContext>(ToolContext{*workspace, *runner, kTestCmd});
  }
  RecipeOutcome test_gen() {
    return run_file(std::string(NAGENT_SOURCE_DIR) + "/recipes/test_gen.lua",
                    {{"module", "textkit/slug.py"}, {"fix", "fixes/slug.patch"}});
  }
};

const char* kNewTest = R"(import unittest

from textkit.slug import slugify


class DashTest(unittest.TestCase):
    def test_punctuation_gives_single_dashes(self):
        self.assertEqual(slugify("Hello,  World!"), "hello-world")
)";

}  // namespace

TEST_CASE("test_gen.lua end to end: new tests fail before the planted fix and pass after", "[test_gen][e2e]") {
  TestGenFixture f;
  const std::string module = read_text(f.workspace->root() / "textkit/slug.py");
  f.server.push({.content = text_call("edit_file", {{"path", "textkit/slug.py"}, {"old_str", "[^a-z0-9]"},
                                                    {"new_str", "[^a-z0-9]+"}})});
  f.server.push({.content = text_call("write_file", {{"path", "tests/test_slug_dashes.py"}, {"content", kNewTest}})});
  f.server.push({.content = text_call("run_tests", {})});
  f.server.push({.content = text_call("finish", {{"summary", "added a test for repeated dashes"}})});

  auto r = f.test_gen();
  CHECK(r.ok);
  CHECK_THAT(f.server.requests()[1]["messages"].back()["content"].get<std::string>(),
             Catch::StartsWith("Denied: test_gen only adds tests; textkit/slug.py is not a test file"));
  const json out = json::parse(read_text(f.reports / "test_gen.json"));
  CHECK(out["proven"] == true);
  CHECK(out["failed_before"] == true);
  CHECK(out["passed_after"] == true);
  CHECK(out["tests"] == json::array({"tests/test_slug_dashes.py"}));
  CHECK_THAT(out["before_output"].get<std::string>(), Catch::Contains("hello---world-"));
  // The module is as it was (the fix was applied for the proof, then reverted).
  CHECK(read_text(f.workspace->root() / "textkit/slug.py") == module);
  CHECK_THAT(f.printed, Catch::Contains("+++ b/tests/test_slug_dashes.py") && !Catch::Contains("textkit/slug.py"));
}

TEST_CASE("test_gen.lua: tests that pass without the fix are reported as missing the bug", "[test_gen]") {
  TestGenFixture f;
  f.server.push({.content = text_call("write_file", {{"path", "tests/test_slug_more.py"},
                                                     {"content", "import unittest\n\nfrom textkit.slug import slugify\n\n\n"
                                                                 "class T(unittest.TestCase):\n    def test_word(self):\n"
                                                                 "        self.assertEqual(slugify(\"abc\"), \"abc\")\n"}})});
  f.server.push({.content = text_call("finish", {{"summary", "done"}})});
  auto r = f.test_gen();
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.summary, Catch::Contains("pass without the fix"));
}

TEST_CASE("test_gen.lua: bad arguments are one clear error", "[test_gen]") {
  TestGenFixture f;
  REQUIRE_THROWS_WITH(f.run_file(std::string(NAGENT_SOURCE_DIR) + "/recipes/test_gen.lua", {{"module", "x.py"}}),
                      Catch::Contains("test_gen.lua:") && Catch::Contains("--arg module=PATH --arg fix=PATCH_FILE"));
}
