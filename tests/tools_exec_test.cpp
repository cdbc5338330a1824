// shell and run_tests through the real plain runner, and test-command detection on small
// real repositories.
#include "tools_fixture.h"

#include <chrono>

#include "tools/test_detect.h"

using namespace nagent;
using nagent::test::TempWorkspace;
namespace fs = std::filesystem;

TEST_CASE("shell merges stdout and stderr in order and reports the exit code") {
  TempWorkspace t;
  auto r = t.call("shell", {{"command", "echo out1; echo err1 >&2; echo out2; exit 3"}});
  CHECK_FALSE(r.ok);
  CHECK(r.exit_code == 3);
  CHECK(r.output == "out1\nerr1\nout2\n[exit code 3]");

  auto pwd = t.call("bash", {{"command", "pwd"}});  // alias
  CHECK(pwd.ok);
  CHECK(pwd.output == t.root.string() + "\n[exit code 0]");

  auto syntax = t.call("shell", {{"command", "if then fi"}});
  CHECK_FALSE(syntax.ok);
  CHECK_THAT(syntax.output, Catch::Contains("Syntax error"));  // the inner shell's error reaches the output

  auto quiet = t.call("shell", {{"command", "true"}});
  CHECK(quiet.output == "(no output)\n[exit code 0]");

  auto stdin_closed = t.call("shell", {{"command", "cat; echo done"}});
  CHECK(stdin_closed.output == "done\n[exit code 0]");
}

TEST_CASE("shell reports a command killed by a signal") {
  TempWorkspace t;
  auto r = t.call("shell", {{"command", "echo before; kill -KILL $$"}});
  CHECK_FALSE(r.ok);
  CHECK(r.exit_code == 128 + 9);
  CHECK(r.output == "before\n[killed by signal 9 (SIGKILL)]");
}

TEST_CASE("shell caps long output keeping head and tail") {
  TempWorkspace t;
  t.ctx.output_limit_bytes = 2000;
  auto r = t.call("shell", {{"command", "seq 1 100000"}});
  REQUIRE(r.ok);
  CHECK(r.output.size() < 2200);
  CHECK_THAT(r.output, Catch::StartsWith("1\n2\n3\n"));
  CHECK_THAT(r.output, Catch::EndsWith("99999\n100000\n[exit code 0]"));
  CHECK_THAT(r.output, Catch::Contains(" lines omitted ...]"));
}

TEST_CASE("shell kills a command and its children at the timeout") {
  TempWorkspace t;
  auto start = std::chrono::steady_clock::now();
  auto r = t.call("shell", {{"command", "sleep 30 & sleep 30; echo never"}, {"timeout_s", 1}});
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK_FALSE(r.ok);
  CHECK(r.exit_code == 124);
  CHECK(r.data["timed_out"] == true);
  CHECK_THAT(r.output, Catch::EndsWith("[timed out after 1 s; the command and its child processes were killed]"));
  CHECK(secs < 10);
}

TEST_CASE("run_tests detects and runs a Python unittest suite, failing then passing") {
  TempWorkspace t;
  t.write("calc.py", "def add(a, b):\n    return a + b\n");
  t.write("tests/test_calc.py",
          "import unittest\nfrom calc import add\n\n"
          "class CalcTest(unittest.TestCase):\n"
          "    def test_add(self):\n        self.assertEqual(add(2, 2), 4)\n\n"
          "    def test_add_negative(self):\n        self.assertEqual(add(-1, -1), -3)\n");
  auto fail = t.call("run_tests", json::object());
  INFO(fail.output);
  CHECK_FALSE(fail.ok);
  CHECK(fail.data["passed"] == false);
  const std::string cmd = fail.data["command"].get<std::string>();
  CHECK((cmd == "python3 -m pytest -q" || cmd == "python3 -m unittest discover -s tests"));
  CHECK_THAT(fail.output, Catch::Contains("test_add_negative"));
  CHECK_THAT(fail.output, Catch::EndsWith("[tests FAILED]"));

  t.write("tests/test_calc.py",
          "import unittest\nfrom calc import add\n\n"
          "class CalcTest(unittest.TestCase):\n"
          "    def test_add(self):\n        self.assertEqual(add(2, 2), 4)\n");
  auto pass = t.call("run_tests", json::object());
  INFO(pass.output);
  CHECK(pass.ok);
  CHECK(pass.data["passed"] == true);
  CHECK_THAT(pass.output, Catch::EndsWith("[tests passed]"));
}

TEST_CASE("run_tests runs a Makefile test target, and a configured command first") {
  TempWorkspace t;
  t.write("value", "41\n");
  t.write("Makefile", "all:\n\ttrue\n\ntest: all\n\ttest \"$$(cat value)\" = 42\n");
  auto fail = t.call("run_tests", json::object());
  CHECK(fail.data["command"] == "make test");
  CHECK(fail.data["passed"] == false);
  t.write("value", "42\n");
  auto pass = t.call("run_tests", json::object());
  CHECK(pass.data["passed"] == true);
  CHECK_THAT(pass.output, Catch::StartsWith("$ make test   # Makefile has a test target\n"));

  t.ctx.test_command = "echo custom; exit 1";
  auto custom = t.call("run_tests", json::object());
  CHECK(custom.data["command"] == "echo custom; exit 1");
  CHECK(custom.data["passed"] == false);
  CHECK_THAT(custom.output, Catch::Contains("custom\n[exit code 1]"));
}

TEST_CASE("detect_test_command reads the repository's markers") {
  TempWorkspace t;
  auto no_pytest = [] { return false; };
  auto with_pytest = [] { return true; };
  auto detect = [&](auto probe) {
    auto d = detect_test_command(t.root, probe);
    return d ? d->command : std::string("(none)");
  };
  CHECK(detect(no_pytest) == "(none)");

  t.write("Makefile", "build:\n\tcc x.c\nTESTS := a b\n");  // no test target, only a variable
  CHECK(detect(no_pytest) == "(none)");
  t.write("package.json", R"({"scripts": {"test": "echo \"Error: no test specified\" && exit 1"}})");
  CHECK(detect(no_pytest) == "(none)");
  t.write("package.json", R"({"scripts": {"test": "jest"}})");
  CHECK(detect(no_pytest) == "npm test");
  t.write("Makefile", "check test: build\n\t./run\n");
  CHECK(detect(no_pytest) == "make test");
  fs::remove(t.root / "Makefile");
  fs::remove(t.root / "package.json");

  t.write("Cargo.toml", "[package]\nname = \"x\"\n");
  CHECK(detect(no_pytest) == "cargo test");
  fs::remove(t.root / "Cargo.toml");
  t.write("go.mod", "module x\n");
  CHECK(detect(no_pytest) == "go test ./...");
  fs::remove(t.root / "go.mod");

  t.write("CMakeLists.txt", "project(x)\n");
  CHECK(detect(no_pytest) == "(none)");  // not configured yet: nothing to run
  t.write("build-rel/CMakeCache.txt", "");
  CHECK(detect(no_pytest) == "cmake --build build-rel && ctest --test-dir build-rel --output-on-failure");
  fs::remove_all(t.root / "build-rel");
  fs::remove(t.root / "CMakeLists.txt");

  t.write("pkg/mod_test.py", "");
  CHECK(detect(no_pytest) == "python3 -m unittest discover -s pkg -p '*_test.py'");
  t.write("test_top.py", "");
  CHECK(detect(no_pytest) == "python3 -m unittest discover");
  CHECK(detect(with_pytest) == "python3 -m pytest -q");
}
