// Path confinement: every way out of the workspace the model could try, through real
// directories and symlinks.
#include "tools_fixture.h"

using namespace nagent;
using nagent::test::TempWorkspace;
namespace fs = std::filesystem;

TEST_CASE("resolve keeps paths inside the workspace and refuses every escape") {
  TempWorkspace t;
  t.write("src/main.c", "int main;\n");
  fs::create_directory(t.root / "inner");
  fs::path outside = nagent::test::make_temp_dir();
  std::ofstream(outside / "secret") << "s\n";
  fs::create_directory_symlink("/etc", t.root / "etc_link");
  fs::create_directory_symlink(outside, t.root / "out_link");
  fs::create_symlink(outside / "secret", t.root / "secret_link");
  fs::create_symlink(outside / "not-yet", t.root / "dangling_out");
  fs::create_directory_symlink("src", t.root / "src_link");               // relative, inside
  fs::create_directory_symlink(t.root / "inner", t.root / "inner_abs");   // absolute, inside
  fs::create_directory_symlink("../../" + outside.filename().string(), t.root / "inner" / "up");  // inner/up -> ../../<outside>
  fs::create_directory_symlink("inner/up", t.root / "chain");              // chain -> inner/up -> outside
  fs::create_symlink("loop_b", t.root / "loop_a");
  fs::create_symlink("loop_a", t.root / "loop_b");

  struct Case {
    std::string path;
    bool allowed;
    std::string expect;  // resolved, relative to the root (allowed) or a piece of the message
  };
  const std::vector<Case> cases = {
      {"src/main.c", true, "src/main.c"},
      {"./src/../src/main.c", true, "src/main.c"},
      {t.root.string() + "/src/main.c", true, "src/main.c"},  // absolute inside: ok
      {".", true, "."},
      {"new/dir/file.txt", true, "new/dir/file.txt"},       // not existing yet: ok
      {"src_link/main.c", true, "src/main.c"},              // symlink inside -> real path
      {"inner_abs", true, "inner"},
      {"new/../src/main.c", true, "src/main.c"},
      {"../x", false, "outside the workspace"},
      {"src/../../x", false, "outside the workspace"},
      {"/etc/passwd", false, "outside the workspace"},
      {"etc_link/passwd", false, "symlink 'etc_link' -> '/etc'"},
      {"out_link/secret", false, "outside the workspace"},
      {"out_link/new_file", false, "outside the workspace"},  // parent is a link out
      {"secret_link", false, "symlink 'secret_link'"},         // final component links out
      {"dangling_out", false, "outside the workspace"},        // dangling link out (a write would create it)
      {"chain/secret", false, "outside the workspace"},        // link -> link -> out
      {"inner/up/secret", false, "outside the workspace"},
      {"src_link/../../x", false, "outside the workspace"},   // .. applies to the link's target
      {"loop_a", false, "too many levels of symbolic links"},
      {"", false, "empty path"},
  };
  for (const auto& c : cases) {
    INFO("path: " << c.path);
    if (c.allowed) {
      fs::path got = t.ws.resolve(c.path);
      CHECK(t.ws.relative(got) == c.expect);
      CHECK(got.is_absolute());
    } else {
      try {
        t.ws.resolve(c.path);
        FAIL("resolved although it leaves the workspace");
      } catch (const PathError& e) {
        CHECK_THAT(e.what(), Catch::Contains(c.expect));
      }
    }
  }
  fs::remove_all(outside);
}

TEST_CASE("file tools refuse symlinks out and never write through them") {
  TempWorkspace t;
  fs::path outside = nagent::test::make_temp_dir();
  std::ofstream(outside / "victim.txt") << "original\n";
  fs::create_symlink(outside / "victim.txt", t.root / "victim_link");
  fs::create_directory_symlink(outside, t.root / "outdir");

  auto w = t.call("write_file", {{"path", "victim_link"}, {"content", "pwned\n"}});
  CHECK_FALSE(w.ok);
  auto w2 = t.call("write_file", {{"path", "outdir/new.txt"}, {"content", "pwned\n"}});
  CHECK_FALSE(w2.ok);
  auto e = t.call("edit_file", {{"path", "victim_link"}, {"old_str", "original"}, {"new_str", "pwned"}});
  CHECK_FALSE(e.ok);
  auto p = t.call("apply_patch", {{"patch", "--- /dev/null\n+++ b/outdir/p.txt\n@@ -0,0 +1 @@\n+pwned\n"}});
  CHECK_FALSE(p.ok);
  auto r = t.call("read_file", {{"path", "victim_link"}});
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.output, Catch::Contains("outside the workspace"));

  std::ifstream in(outside / "victim.txt");
  std::string content((std::istreambuf_iterator<char>(in)), {});
  CHECK(content == "original\n");
  CHECK_FALSE(fs::exists(outside / "new.txt"));
  CHECK_FALSE(fs::exists(outside / "p.txt"));
  fs::remove_all(outside);
}

TEST_CASE("writing through a symlink inside the workspace changes its target and keeps the link") {
  TempWorkspace t;
  t.write("real/config.ini", "a=1\n");
  fs::create_symlink("real/config.ini", t.root / "config.ini");
  auto e = t.call("edit_file", {{"path", "config.ini"}, {"old_str", "a=1"}, {"new_str", "a=2"}});
  REQUIRE(e.ok);
  CHECK_THAT(e.output, Catch::StartsWith("Edited real/config.ini"));
  CHECK(fs::is_symlink(t.root / "config.ini"));
  CHECK(t.read("real/config.ini") == "a=2\n");
  auto w = t.call("write_file", {{"path", "config.ini"}, {"content", "a=3\n"}});
  REQUIRE(w.ok);
  CHECK(fs::is_symlink(t.root / "config.ini"));
  CHECK(t.read("real/config.ini") == "a=3\n");
}

TEST_CASE("a workspace must be an existing directory") {
  CHECK_THROWS_AS(Workspace("/nonexistent/nagent/ws"), PathError);
  TempWorkspace t;
  t.write("f", "x");
  CHECK_THROWS_AS(Workspace(t.root / "f"), PathError);
}
