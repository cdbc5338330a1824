// apply_patch on real files: what git diff writes, and all-or-nothing on failure.
#include "tools_fixture.h"

#include <map>

using namespace nagent;
using nagent::test::TempWorkspace;
namespace fs = std::filesystem;

static std::string lines(int from, int to) {
  std::string s;
  for (int i = from; i <= to; ++i) s += "line " + std::to_string(i) + "\n";
  return s;
}

TEST_CASE("apply_patch applies git diff output: several files and hunks") {
  TempWorkspace t;
  t.write("a.txt", lines(1, 20));
  t.write("src/b.txt", "one\ntwo\nthree\n");
  const std::string patch =
      "diff --git a/a.txt b/a.txt\n"
      "index 1111111..2222222 100644\n"
      "--- a/a.txt\n"
      "+++ b/a.txt\n"
      "@@ -2,3 +2,3 @@\n"
      " line 2\n"
      "-line 3\n"
      "+line three\n"
      " line 4\n"
      "@@ -17,3 +17,4 @@\n"
      " line 17\n"
      " line 18\n"
      "+line 18.5\n"
      " line 19\n"
      "diff --git a/src/b.txt b/src/b.txt\n"
      "--- a/src/b.txt\n"
      "+++ b/src/b.txt\n"
      "@@ -1,3 +1,2 @@\n"
      " one\n"
      "-two\n"
      " three\n";
  auto r = t.call("apply_patch", {{"patch", patch}});
  INFO(r.output);
  REQUIRE(r.ok);
  std::string expect = lines(1, 20);
  expect.replace(expect.find("line 3\n"), 7, "line three\n");
  expect.insert(expect.find("line 19\n"), "line 18.5\n");
  CHECK(t.read("a.txt") == expect);
  CHECK(t.read("src/b.txt") == "one\nthree\n");
  CHECK_THAT(r.output, Catch::Contains("M a.txt (+2 -1)"));
  CHECK_THAT(r.output, Catch::Contains("M src/b.txt (+0 -1)"));
}

TEST_CASE("apply_patch is all or nothing: a failing hunk in the second file leaves the first unchanged") {
  TempWorkspace t;
  t.write("first.txt", "a\nb\nc\n");
  t.write("second.txt", "x\ny\nz\n");
  const std::string patch =
      "--- a/first.txt\n+++ b/first.txt\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
      "--- /dev/null\n+++ b/created.txt\n@@ -0,0 +1 @@\n+new\n"
      "--- a/second.txt\n+++ b/second.txt\n@@ -1,3 +1,3 @@\n x\n-WRONG\n+Y\n z\n";
  auto r = t.call("apply_patch", {{"patch", patch}});
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.output, Catch::Contains("no file was changed"));
  CHECK_THAT(r.output, Catch::Contains("second.txt, hunk 1 of 1 (@@ -1,3 +1,3 @@)"));
  CHECK_THAT(r.output, Catch::Contains("Line 2 of second.txt is `y` but the patch expects `WRONG`"));
  CHECK(t.read("first.txt") == "a\nb\nc\n");
  CHECK_FALSE(t.exists("created.txt"));
  // Nothing staged was left behind either.
  size_t n = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(t.root)) ++n;
  CHECK(n == 2);
}

TEST_CASE("apply_patch creates and deletes files, keeping modes from git headers") {
  TempWorkspace t;
  t.write("old.txt", "bye\nnow\n");
  const std::string patch =
      "diff --git a/tools/run.sh b/tools/run.sh\n"
      "new file mode 100755\n"
      "index 0000000..3333333\n"
      "--- /dev/null\n"
      "+++ b/tools/run.sh\n"
      "@@ -0,0 +1,2 @@\n"
      "+#!/bin/sh\n"
      "+echo hi\n"
      "diff --git a/old.txt b/old.txt\n"
      "deleted file mode 100644\n"
      "--- a/old.txt\n"
      "+++ /dev/null\n"
      "@@ -1,2 +0,0 @@\n"
      "-bye\n"
      "-now\n";
  auto r = t.call("apply_patch", {{"patch", patch}});
  INFO(r.output);
  REQUIRE(r.ok);
  CHECK(t.read("tools/run.sh") == "#!/bin/sh\necho hi\n");
  CHECK((fs::status(t.root / "tools/run.sh").permissions() & fs::perms::all) == fs::perms(0755));
  CHECK_FALSE(t.exists("old.txt"));
  CHECK_THAT(r.output, Catch::Contains("A tools/run.sh"));
  CHECK_THAT(r.output, Catch::Contains("D old.txt"));

  // Creating a file that exists, deleting one whose content differs: refused.
  t.write("here.txt", "x\n");
  CHECK_FALSE(t.call("apply_patch", {{"patch", "--- /dev/null\n+++ b/here.txt\n@@ -0,0 +1 @@\n+y\n"}}).ok);
  auto del = t.call("apply_patch", {{"patch", "--- a/here.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-other\n"}});
  CHECK_FALSE(del.ok);
  CHECK(t.read("here.txt") == "x\n");
}

TEST_CASE("apply_patch handles '\\ No newline at end of file' on either side") {
  TempWorkspace t;
  t.write("n.txt", "a\nb");  // no final newline
  auto add_nl = t.call("apply_patch", {{"patch",
      "--- a/n.txt\n+++ b/n.txt\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"}});
  INFO(add_nl.output);
  REQUIRE(add_nl.ok);
  CHECK(t.read("n.txt") == "a\nb\n");

  auto drop_nl = t.call("apply_patch", {{"patch",
      "--- a/n.txt\n+++ b/n.txt\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n\\ No newline at end of file\n"}});
  REQUIRE(drop_nl.ok);
  CHECK(t.read("n.txt") == "a\nc");

  auto create = t.call("apply_patch", {{"patch",
      "--- /dev/null\n+++ b/m.txt\n@@ -0,0 +1 @@\n+only\n\\ No newline at end of file\n"}});
  REQUIRE(create.ok);
  CHECK(t.read("m.txt") == "only");
}

TEST_CASE("apply_patch finds hunks whose line numbers are off, but not changed content") {
  TempWorkspace t;
  t.write("f.txt", "header 1\nheader 2\nheader 3\n" + lines(1, 30));
  // Stated at line 10, really at line 13 (three lines were added above since the diff).
  auto r = t.call("apply_patch", {{"patch",
      "--- a/f.txt\n+++ b/f.txt\n@@ -10,3 +10,3 @@\n line 10\n-line 11\n+line eleven\n line 12\n"
      "@@ -20,2 +20,3 @@\n line 20\n+line 20.5\n line 21\n"}});
  INFO(r.output);
  REQUIRE(r.ok);
  CHECK_THAT(t.read("f.txt"), Catch::Contains("line 10\nline eleven\nline 12\n"));
  CHECK_THAT(t.read("f.txt"), Catch::Contains("line 20\nline 20.5\nline 21\n"));
  CHECK_THAT(r.output, Catch::Contains("hunk 1 applied at offset +3 lines"));

  const std::string before = t.read("f.txt");
  auto bad = t.call("apply_patch", {{"patch", "--- a/f.txt\n+++ b/f.txt\n@@ -5,3 +5,3 @@\n line 2\n-line 3 CHANGED\n+x\n line 4\n"}});
  CHECK_FALSE(bad.ok);
  CHECK_THAT(bad.output, Catch::Contains("f.txt, hunk 1 of 1"));
  CHECK_THAT(bad.output, Catch::Contains("is `line 3` but the patch expects `line 3 CHANGED`"));
  CHECK(t.read("f.txt") == before);
}

TEST_CASE("apply_patch tolerates miscounted @@ headers, prose around the diff, and renames") {
  TempWorkspace t;
  t.write("g.py", "a = 1\nb = 2\nc = 3\nd = 4\n");
  // Counts say 2 lines; the hunk has 4. A model's explanation and a fence surround it.
  auto r = t.call("apply_patch", {{"patch",
      "Here is the fix:\n```diff\n--- a/g.py\n+++ b/g.py\n@@ -1,2 +1,2 @@\n a = 1\n-b = 2\n+b = 20\n c = 3\n d = 4\n```\n"}});
  INFO(r.output);
  REQUIRE(r.ok);
  CHECK(t.read("g.py") == "a = 1\nb = 20\nc = 3\nd = 4\n");

  auto mv = t.call("apply_patch", {{"patch",
      "diff --git a/g.py b/lib/h.py\nsimilarity index 80%\nrename from g.py\nrename to lib/h.py\n"
      "--- a/g.py\n+++ b/lib/h.py\n@@ -4 +4 @@\n-d = 4\n+d = 40\n"}});
  INFO(mv.output);
  REQUIRE(mv.ok);
  CHECK_FALSE(t.exists("g.py"));
  CHECK(t.read("lib/h.py") == "a = 1\nb = 20\nc = 3\nd = 40\n");
}

TEST_CASE("apply_patch uses the @@ counts to read removed '-- ' and added '++ ' lines as content") {
  TempWorkspace t;
  t.write("sig.txt", "body\n-- a\nend\n");
  auto r = t.call("apply_patch", {{"patch", "--- a/sig.txt\n+++ b/sig.txt\n@@ -1,3 +1,3 @@\n body\n--- a\n+++ b\n end\n"}});
  INFO(r.output);
  REQUIRE(r.ok);
  CHECK(t.read("sig.txt") == "body\n++ b\nend\n");
}

TEST_CASE("apply_patch reads git's C-quoted file names") {
  TempWorkspace t;
  t.write("caf\xC3\xA9 menu.txt", "tea\n");
  auto r = t.call("apply_patch", {{"patch",
      "diff --git \"a/caf\\303\\251 menu.txt\" \"b/caf\\303\\251 menu.txt\"\n"
      "--- \"a/caf\\303\\251 menu.txt\"\n+++ \"b/caf\\303\\251 menu.txt\"\n@@ -1 +1 @@\n-tea\n+coffee\n"}});
  INFO(r.output);
  REQUIRE(r.ok);
  CHECK(t.read("caf\xC3\xA9 menu.txt") == "coffee\n");
}

TEST_CASE("apply_patch takes plain `diff -u` output naming a backup as the old file") {
  TempWorkspace t;
  t.write("conf.ini", "a=1\nb=2\n");
  auto r = t.call("apply_patch", {{"patch",
      "--- conf.ini.orig\t2026-11-23 10:00:00.000000000 +0000\n+++ conf.ini\t2026-11-23 10:05:00.000000000 +0000\n"
      "@@ -1,2 +1,2 @@\n a=1\n-b=2\n+b=3\n"}});
  INFO(r.output);
  REQUIRE(r.ok);
  CHECK(t.read("conf.ini") == "a=1\nb=3\n");
  CHECK_FALSE(t.exists("conf.ini.orig"));
}

TEST_CASE("apply_patch rejects malformed patches and paths outside the workspace") {
  TempWorkspace t;
  auto none = t.call("apply_patch", {{"patch", "just some text\n"}});
  CHECK_FALSE(none.ok);
  CHECK_THAT(none.output, Catch::Contains("no file sections"));
  auto bad_header = t.call("apply_patch", {{"patch", "--- a/x\n+++ b/x\n@@ -1,2 +1,2\n-a\n+b\n"}});
  CHECK_FALSE(bad_header.ok);
  CHECK_THAT(bad_header.output, Catch::Contains("malformed hunk header"));
  auto escape = t.call("apply_patch", {{"patch", "--- /dev/null\n+++ b/../escape.txt\n@@ -0,0 +1 @@\n+x\n"}});
  CHECK_FALSE(escape.ok);
  CHECK_THAT(escape.output, Catch::Contains("outside the workspace"));
  CHECK_FALSE(fs::exists(t.root.parent_path() / "escape.txt"));
  auto missing = t.call("apply_patch", {{"patch", "--- a/nope.txt\n+++ b/nope.txt\n@@ -1 +1 @@\n-a\n+b\n"}});
  CHECK_FALSE(missing.ok);
  CHECK_THAT(missing.output, Catch::Contains("nope.txt: no such file"));
}

// The patch comes from git itself: whatever `git diff` prints for modified, created,
// deleted, renamed files and a missing final newline must apply and reproduce git's result.
TEST_CASE("apply_patch reproduces a real `git diff`") {
  REQUIRE(std::system("git --version > /dev/null 2>&1") == 0);  // scripts/setup.sh installs git
  TempWorkspace repo, target;
  std::map<std::string, std::string> before = {
      {"src/main.c", "#include <stdio.h>\n\nint main(void) {\n  printf(\"hi\\n\");\n  return 0;\n}\n"},
      {"notes.txt", "first\nsecond"},  // no final newline
      {"gone.txt", "delete me\n"},
      {"docs/old_name.md", "# Title\n\n" + lines(1, 40)},
  };
  for (const auto& [p, c] : before) {
    repo.write(p, c);
    target.write(p, c);
  }
  const std::string git = "cd '" + repo.root.string() + "' && git -c user.name=t -c user.email=t@example.com ";
  REQUIRE(std::system((git + "init -q && " + git + "add -A && " + git + "commit -qm base").c_str()) == 0);

  repo.write("src/main.c", "#include <stdio.h>\n\nint main(int argc, char** argv) {\n  printf(\"hi %d\\n\", argc);\n  return 0;\n}\n");
  repo.write("notes.txt", "first\nsecond\nthird\n");
  fs::remove(repo.root / "gone.txt");
  fs::create_directories(repo.root / "docs/new");
  std::string renamed = "# Title\n\n" + lines(1, 40);
  renamed.replace(renamed.find("line 20\n"), 8, "line twenty\n");
  repo.write("docs/new/name.md", renamed);
  fs::remove(repo.root / "docs/old_name.md");
  repo.write("added.py", "print('new')\n");
  const std::string patch_file = (repo.root / "../" ).string() + repo.root.filename().string() + ".patch";
  REQUIRE(std::system((git + "add -A && " + git + "diff --cached -M > '" + patch_file + "'").c_str()) == 0);
  std::ifstream in(patch_file);
  std::string patch((std::istreambuf_iterator<char>(in)), {});
  fs::remove(patch_file);
  INFO(patch);
  REQUIRE(patch.find("rename from docs/old_name.md") != std::string::npos);
  REQUIRE(patch.find("\\ No newline at end of file") != std::string::npos);

  auto r = target.call("apply_patch", {{"patch", patch}});
  INFO(r.output);
  REQUIRE(r.ok);
  for (const char* p : {"src/main.c", "notes.txt", "docs/new/name.md", "added.py"}) {
    INFO(p);
    CHECK(target.read(p) == repo.read(p));
  }
  CHECK_FALSE(target.exists("gone.txt"));
  CHECK_FALSE(target.exists("docs/old_name.md"));
}
