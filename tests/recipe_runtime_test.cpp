#include <catch2/catch.hpp>

#include "support/recipe_testbed.h"

using namespace nagent;

namespace {

// Everything a recipe needs, on a temporary workspace, talking to a scripted model server.
struct RecipeFixture : RecipeTestbed {
  RecipeFixture() : RecipeTestbed("recipe", "true", {{"hello.txt", "hello\n"}}) {}
};

}  // namespace

TEST_CASE("recipe: return values and arguments", "[recipe]") {
  RecipeFixture f;
  CHECK(f.run("return true").ok);
  CHECK_FALSE(f.run("return false").ok);
  auto r = f.run("return {ok = true, summary = 'done ' .. nagent.args.task}", {{"task", "T"}});
  CHECK(r.ok);
  CHECK(r.summary == "done T");
  REQUIRE_THROWS_WITH(f.run("return 42"), Catch::Contains("must return true/false"));
  REQUIRE_THROWS_WITH(f.run("return {summary = 'x'}"), Catch::Contains("must return true/false"));
}

TEST_CASE("recipe: errors name the recipe file and line", "[recipe]") {
  RecipeFixture f;
  REQUIRE_THROWS_WITH(f.run("local x = 1\nlocal y = (\n"), Catch::Contains("recipe.lua:3:"));
  REQUIRE_THROWS_WITH(f.run("local x = 1\n\nerror('boom')\n"), Catch::Contains("recipe.lua:3: boom"));
  REQUIRE_THROWS_WITH(f.run("\nnagent.tool('no_such_tool')\n"),
                      Catch::Contains("recipe.lua:2:") && Catch::Contains("unknown tool 'no_such_tool'") &&
                          Catch::Contains("read_file"));
  REQUIRE_THROWS_WITH(f.run("nagent.tool(42)"), Catch::Contains("recipe.lua:1:") && Catch::Contains("must be a string"));
  REQUIRE_THROWS_WITH(f.run("nagent.tool('read_file', {})"),
                      Catch::Contains("recipe.lua:1:") && Catch::Contains("path"));
  REQUIRE_THROWS_WITH(f.run("nagent.agent{max_steps = 'many'}"),
                      Catch::Contains("recipe.lua:1:") && Catch::Contains("'max_steps' must be"));
  REQUIRE_THROWS_WITH(f.run("nagent.agent{colour = 'red'}"), Catch::Contains("unknown field 'colour'"));
  REQUIRE_THROWS_WITH(f.run("nagent.agent{tools = {'read_file', 'rm_rf'}}"), Catch::Contains("unknown tool 'rm_rf'"));
  REQUIRE_THROWS_WITH(f.run("local a = nagent.agent{}\na.run('x')"), Catch::Contains("recipe.lua:2:") &&
                                                                          Catch::Contains("colon"));
}

TEST_CASE("recipe: the Lua environment cannot reach the host", "[recipe][security]") {
  RecipeFixture f;
  const char* forbidden[] = {"os.execute('true')", "io.open('/etc/passwd')", "require('os')",
                             "package.loadlib('x', 'y')", "dofile('/etc/passwd')", "loadfile('/etc/passwd')",
                             "load('return 1')", "os.getenv('HOME')", "os.remove('/tmp/x')", "os.exit(0)"};
  for (const char* code : forbidden) {
    INFO(code);
    REQUIRE_THROWS_AS(f.run(std::string(code) + "\nreturn true"), RecipeError);
    REQUIRE_THROWS_WITH(f.run("\n" + std::string(code) + "\nreturn true"),
                        Catch::Contains("recipe.lua:2:") && Catch::Contains("not available in recipes"));
  }
  CHECK(f.run("return os.time() > 0 and string.format('%d', 3) == '3' and math.max(1, 2) == 2").ok);
}

TEST_CASE("recipe: files are confined to the workspace", "[recipe][security]") {
  RecipeFixture f;
  CHECK(f.run("return nagent.read_file('hello.txt') == 'hello\\n'").ok);
  CHECK(f.run("local t, err = nagent.read_file('../recipe.lua'); return t == nil and err:find('outside') ~= nil").ok);
  CHECK(f.run("local t, err = nagent.read_file('/etc/passwd'); return t == nil").ok);
  REQUIRE_THROWS_AS(f.run("nagent.write_file('../escape.txt', 'x')"), RecipeError);
  CHECK_FALSE(std::filesystem::exists(f.dir.path() / "escape.txt"));
  CHECK(f.run("nagent.write_file('sub/new.txt', 'abc'); return nagent.read_file('sub/new.txt') == 'abc'").ok);
}

TEST_CASE("recipe: tools run through the host and results are journaled", "[recipe]") {
  RecipeFixture f;
  auto r = f.run(R"(
    local r = nagent.tool('read_file', {path = 'hello.txt'})
    nagent.print('read: ' .. r.output)
    nagent.log('logged line')
    local t = nagent.tool('run_tests')
    return {ok = r.ok and t.data.passed == true, summary = t.data.command}
  )");
  CHECK(r.ok);
  CHECK(r.summary == "true");
  CHECK(f.printed.find("hello") != std::string::npos);
  CHECK(f.logged == "logged line\n");
  int op_ends = 0;
  for (const auto& e : f.store->events("t")) op_ends += e.type == "op_end";
  CHECK(op_ends == 2);
  // The recipe can inspect the same events.
  CHECK(f.run(R"(
    local ends = nagent.events('op_end')
    return #ends == 2 and ends[1].data.name == 'read_file' and ends[2].data.result.data.passed == true
       and #nagent.events() > #ends
  )").ok);
}

TEST_CASE("recipe: a resumed recipe replays recorded ops instead of running them again", "[recipe][resume]") {
  RecipeFixture f;
  // First run: appends to a file through the shell tool, then fails.
  const std::string code = R"(
    local r = nagent.tool('shell', {command = 'echo run >> count.txt; wc -l < count.txt'})
    if nagent.args.fail then error('crash after the tool') end
    return {ok = true, summary = r.output}
  )";
  REQUIRE_THROWS(f.run(code, {{"fail", true}}));
  CHECK(read_text(f.workspace->root() / "count.txt") == "run\n");
  // Resume with the recorded history: the shell op is not run a second time.
  f.journal = std::make_unique<Journal>(*f.store, "t", f.store->events("t"));
  auto r = f.run(code);
  CHECK(r.ok);
  CHECK(read_text(f.workspace->root() / "count.txt") == "run\n");
  CHECK(r.summary.find('1') != std::string::npos);
}

TEST_CASE("recipe: an unreachable model aborts the recipe even inside pcall", "[recipe]") {
  RecipeFixture f;
  OpenAIClientConfig config;
  config.endpoint = "http://127.0.0.1:1/v1";
  config.model = "m";
  config.retry.max_retries = 1;
  config.retry.base_delay = std::chrono::milliseconds(1);
  f.client = std::make_unique<OpenAIClient>(config);
  REQUIRE_THROWS_AS(f.run("local ok = pcall(function() return nagent.agent{}:run('x') end)\nreturn true"),
                    BackendError);
}
