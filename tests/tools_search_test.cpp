// search and list_dir over a real tree.
#include "tools_fixture.h"

#include "tools/glob.h"

using namespace nagent;
using nagent::test::TempWorkspace;
namespace fs = std::filesystem;

TEST_CASE("search finds regex matches as path:line: text, one row per line") {
  TempWorkspace t;
  t.write("src/app.py", "import os\n\ndef load_config(path):\n    return open(path)\n\ndef save_config(c):  # save_config\n    pass\n");
  t.write("src/util.c", "int load_config(void);\n");
  t.write("README.md", "Call load_config() first.\n");
  auto r = t.call("search", {{"pattern", R"(def (load|save)_config\()"}});
  REQUIRE(r.ok);
  CHECK(r.output == "src/app.py:3: def load_config(path):\nsrc/app.py:6: def save_config(c):  # save_config\n[2 matches in 1 file]");
  CHECK(r.data["matches"] == 2);

  auto anchored = t.call("search", {{"pattern", "^int"}});
  CHECK(anchored.output == "src/util.c:1: int load_config(void);\n[1 match in 1 file]");

  auto ci = t.call("search", {{"pattern", "(?i)CALL LOAD"}});
  CHECK_THAT(ci.output, Catch::StartsWith("README.md:1: Call load_config() first."));

  auto none = t.call("search", {{"pattern", "no_such_symbol"}});
  CHECK(none.ok);
  CHECK_THAT(none.output, Catch::StartsWith("No matches for /no_such_symbol/ in ."));
}

TEST_CASE("search filters by glob and path") {
  TempWorkspace t;
  t.write("src/a.py", "needle\n");
  t.write("src/b.c", "needle\n");
  t.write("src/b.h", "needle\n");
  t.write("tests/unit/test_a.py", "needle\n");
  t.write("docs/n.md", "needle\n");
  auto py = t.call("search", {{"pattern", "needle"}, {"glob", "*.py"}});
  CHECK(py.output == "src/a.py:1: needle\ntests/unit/test_a.py:1: needle\n[2 matches in 2 files]");
  auto ch = t.call("search", {{"pattern", "needle"}, {"glob", "*.{c,h}"}});
  CHECK(ch.output == "src/b.c:1: needle\nsrc/b.h:1: needle\n[2 matches in 2 files]");
  auto deep = t.call("search", {{"pattern", "needle"}, {"glob", "tests/**/test_*.py"}});
  CHECK(deep.output == "tests/unit/test_a.py:1: needle\n[1 match in 1 file]");
  auto in_docs = t.call("search", {{"pattern", "needle"}, {"path", "docs"}});
  CHECK(in_docs.output == "docs/n.md:1: needle\n[1 match in 1 file]");
  auto one_file = t.call("search", {{"pattern", "needle"}, {"path", "src/b.h"}});
  CHECK(one_file.output == "src/b.h:1: needle\n[1 match in 1 file]");
}

TEST_CASE("search skips .git, dependency directories, binary files and symlinks") {
  TempWorkspace t;
  t.write("keep.txt", "token\n");
  t.write(".git/config", "token\n");
  t.write("node_modules/pkg/index.js", "token\n");
  t.write("__pycache__/x.py", "token\n");
  t.write("blob.bin", std::string("token\0\1\2", 8));
  fs::create_symlink(t.root / "keep.txt", t.root / "alias.txt");
  t.write("big.csv", "token\n");
  fs::resize_file(t.root / "big.csv", 5u << 20);
  auto r = t.call("search", {{"pattern", "token"}});
  CHECK(r.output == "keep.txt:1: token\n[1 match in 1 file]\n[skipped 1 file over 4 MiB]");
  // Named explicitly, an ignored directory is searched.
  auto nm = t.call("search", {{"pattern", "token"}, {"path", "node_modules"}});
  CHECK(nm.output == "node_modules/pkg/index.js:1: token\n[1 match in 1 file]");
}

TEST_CASE("search shows a window around a match deep inside a long line") {
  TempWorkspace t;
  t.write("min.js", std::string(5000, 'a') + "NEEDLE" + std::string(5000, 'b') + "\n");
  auto r = t.call("search", {{"pattern", "NEEDLE"}});
  REQUIRE(r.ok);
  CHECK_THAT(r.output, Catch::StartsWith("min.js:1: [...] aaa"));
  CHECK_THAT(r.output, Catch::Contains("aNEEDLEb"));
  CHECK_THAT(r.output, Catch::Contains("bbb [...]\n"));
  CHECK(r.output.size() < 400);
}

TEST_CASE("search honours .gitignore files at every level, negations and anchors") {
  TempWorkspace t;
  t.write(".gitignore", "# generated\n*.min.js\n/out\ncoverage/\n!keep.min.js\n");
  t.write("app.js", "hit\n");
  t.write("lib/app.min.js", "hit\n");
  t.write("lib/keep.min.js", "hit\n");
  t.write("out/gen.txt", "hit\n");
  t.write("src/out/real.txt", "hit\n");  // "/out" is anchored at the root
  t.write("src/coverage/report.txt", "hit\n");
  t.write("src/.gitignore", "local.txt\n");
  t.write("src/local.txt", "hit\n");
  t.write("local.txt", "hit\n");  // src/.gitignore does not apply above src
  t.write(".git/info/exclude", "secret.txt\n");
  t.write("secret.txt", "hit\n");
  auto r = t.call("search", {{"pattern", "hit"}});
  CHECK(r.output == "app.js:1: hit\nlib/keep.min.js:1: hit\nlocal.txt:1: hit\nsrc/out/real.txt:1: hit\n[4 matches in 4 files]");
  // Started below the root, the root's rules still apply.
  auto sub = t.call("search", {{"pattern", "hit"}, {"path", "lib"}});
  CHECK(sub.output == "lib/keep.min.js:1: hit\n[1 match in 1 file]");
  // A file named explicitly is searched even when ignored.
  auto named = t.call("search", {{"pattern", "hit"}, {"path", "src/local.txt"}});
  CHECK(named.output == "src/local.txt:1: hit\n[1 match in 1 file]");
}

TEST_CASE("search caps its rows and counts what it left out") {
  TempWorkspace t;
  std::string many;
  for (int i = 0; i < 500; ++i) many += "hit " + std::to_string(i) + "\n";
  t.write("a.txt", many);
  t.write("b.txt", "hit\nhit\n");
  auto r = t.call("search", {{"pattern", "^hit"}});
  REQUIRE(r.ok);
  CHECK(r.data["matches"] == 502);
  CHECK_THAT(r.output, Catch::Contains("a.txt:200: hit 199\n[... 302 more matches omitted (502 matches in 2 files in all)"));
}

TEST_CASE("search reports an invalid regex with its position") {
  TempWorkspace t;
  t.write("a.txt", "x\n");
  auto r = t.call("search", {{"pattern", "foo(bar"}});
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.output, Catch::StartsWith("invalid regex at position 7: missing closing parenthesis"));
  auto outside = t.call("search", {{"pattern", "x"}, {"path", "/etc"}});
  CHECK_FALSE(outside.ok);
}

TEST_CASE("glob_match: names, paths, classes, braces, **") {
  CHECK(glob_match("*.py", "a/b/c.py"));
  CHECK_FALSE(glob_match("*.py", "a/b/c.pyc"));
  CHECK(glob_match("src/*.c", "src/x.c"));
  CHECK_FALSE(glob_match("src/*.c", "src/sub/x.c"));
  CHECK(glob_match("src/**/*.c", "src/x.c"));
  CHECK(glob_match("src/**/*.c", "src/a/b/x.c"));
  CHECK(glob_match("**/test_?.py", "deep/er/test_a.py"));
  CHECK(glob_match("[a-c]*.txt", "b1.txt"));
  CHECK_FALSE(glob_match("[!a-c]*.txt", "b1.txt"));
  CHECK(glob_match("*.{cpp,h}", "x/y.h"));
  CHECK_FALSE(glob_match("*.{cpp,h}", "x/y.c"));
}

TEST_CASE("list_dir shows a tree to a depth, marks directories, skips build and vendor trees") {
  TempWorkspace t;
  t.write("README.md", "r\n");
  t.write("src/main.c", "m\n");
  t.write("src/lib/util.c", "u\n");
  t.write("src/lib/deeper/x.c", "x\n");
  t.write("node_modules/pkg/index.js", "n\n");
  t.write(".git/HEAD", "ref\n");
  t.write("build/out.o", "o\n");
  fs::create_directory(t.root / "empty");
  fs::create_symlink("src/main.c", t.root / "link.c");

  auto r = t.call("list_dir", json::object());
  REQUIRE(r.ok);
  CHECK(r.output ==
        "./\n"
        "  .git/  [not expanded]\n"
        "  build/  [not expanded]\n"
        "  empty/  [empty]\n"
        "  node_modules/  [not expanded]\n"
        "  src/\n"
        "    lib/  [2 entries]\n"
        "    main.c\n"
        "  README.md\n"
        "  link.c -> src/main.c");

  auto deep = t.call("list_dir", {{"path", "src"}, {"depth", 3}});
  CHECK(deep.output ==
        "src/\n"
        "  lib/\n"
        "    deeper/\n"
        "      x.c\n"
        "    util.c\n"
        "  main.c");
  auto shallow = t.call("list_dir", {{"path", "src/lib"}, {"depth", 1}});
  CHECK(shallow.output == "src/lib/\n  deeper/  [1 entry]\n  util.c");

  auto file = t.call("list_dir", {{"path", "README.md"}});
  CHECK_FALSE(file.ok);
  CHECK_THAT(file.output, Catch::Contains("read_file"));
}

TEST_CASE("list_dir does not expand directories .gitignore excludes") {
  TempWorkspace t;
  t.write(".gitignore", "coverage/\n");
  t.write("coverage/index.html", "x\n");
  t.write("app/.gitignore", "gen/\n");
  t.write("app/gen/out.c", "x\n");
  t.write("app/main.c", "x\n");
  auto r = t.call("list_dir", json::object());
  CHECK(r.output ==
        "./\n"
        "  app/\n"
        "    gen/  [gitignored, not expanded]\n"
        "    .gitignore\n"
        "    main.c\n"
        "  coverage/  [gitignored, not expanded]\n"
        "  .gitignore");
  auto sub = t.call("list_dir", {{"path", "app"}, {"depth", 1}});
  CHECK(sub.output == "app/\n  gen/  [gitignored, not expanded]\n  .gitignore\n  main.c");
}

TEST_CASE("list_dir caps the number of entries with a note") {
  TempWorkspace t;
  for (int i = 0; i < 450; ++i) t.write("d/f" + std::to_string(1000 + i), "");
  auto r = t.call("list_dir", {{"path", "d"}});
  REQUIRE(r.ok);
  CHECK_THAT(r.output, Catch::EndsWith("[... 50 more entries not shown; list a subdirectory or use a smaller depth]"));
  CHECK_THAT(r.output, Catch::Contains("  f1399\n"));
  CHECK_THAT(r.output, !Catch::Contains("f1400"));
}
