// read_file, write_file and edit_file on real files.
#include "tools_fixture.h"

using namespace nagent;
using nagent::test::TempWorkspace;
namespace fs = std::filesystem;

static std::string numbered(int from, int to) {
  std::string s;
  for (int i = from; i <= to; ++i) s += "line " + std::to_string(i) + "\n";
  return s;
}

TEST_CASE("read_file numbers lines and reads 1-based inclusive ranges") {
  TempWorkspace t;
  t.write("a.txt", numbered(1, 10));
  auto all = t.call("read_file", {{"path", "a.txt"}});
  REQUIRE(all.ok);
  CHECK_THAT(all.output, Catch::StartsWith("     1\tline 1\n     2\tline 2\n"));
  CHECK_THAT(all.output, Catch::EndsWith("    10\tline 10"));

  auto part = t.call("read_file", {{"path", "a.txt"}, {"start_line", 3}, {"end_line", 5}});
  REQUIRE(part.ok);
  CHECK(part.output == "     3\tline 3\n     4\tline 4\n     5\tline 5\n[lines 3-5 of 10]");

  auto clamp = t.call("read_file", {{"path", "a.txt"}, {"start_line", 9}, {"end_line", 50}});
  REQUIRE(clamp.ok);
  CHECK_THAT(clamp.output, Catch::Contains("    10\tline 10"));
  CHECK_THAT(clamp.output, Catch::Contains("end_line 50 is past the end; a.txt has 10 lines"));

  auto past = t.call("read_file", {{"path", "a.txt"}, {"start_line", 11}});
  CHECK_FALSE(past.ok);
  CHECK(past.output == "start_line 11 is past the end of a.txt, which has 10 lines");

  auto backwards = t.call("read_file", {{"path", "a.txt"}, {"start_line", 5}, {"end_line", 4}});
  CHECK_FALSE(backwards.ok);
}

TEST_CASE("read_file refuses binary files and directories, shows empty files and CRLF cleanly") {
  TempWorkspace t;
  t.write("bin.dat", std::string("ELF\0\0\1\2", 7));
  auto bin = t.call("read_file", {{"path", "bin.dat"}});
  CHECK_FALSE(bin.ok);
  CHECK_THAT(bin.output, Catch::Contains("binary"));

  fs::create_directory(t.root / "dir");
  auto dir = t.call("read_file", {{"path", "dir"}});
  CHECK_FALSE(dir.ok);
  CHECK_THAT(dir.output, Catch::Contains("list_dir"));

  auto missing = t.call("read_file", {{"path", "nope.txt"}});
  CHECK_FALSE(missing.ok);
  CHECK_THAT(missing.output, Catch::Contains("nope.txt"));

  t.write("empty.txt", "");
  auto empty = t.call("read_file", {{"path", "empty.txt"}});
  CHECK(empty.ok);
  CHECK_THAT(empty.output, Catch::Contains("empty"));

  t.write("win.txt", "a\r\nb\r\n");
  auto win = t.call("read_file", {{"path", "win.txt"}});
  CHECK(win.output == "     1\ta\n     2\tb");
}

TEST_CASE("read_file stops a large file at the output limit and says where to continue") {
  TempWorkspace t;
  t.write("big.txt", numbered(1, 5000));
  t.ctx.output_limit_bytes = 1000;
  auto r = t.call("read_file", {{"path", "big.txt"}});
  REQUIRE(r.ok);
  CHECK(r.output.size() < 1200);
  // Every shown line is whole, and the hint names the next one.
  const size_t last = r.data["end_line"].get<size_t>();
  CHECK(last > 10);
  CHECK_THAT(r.output, Catch::Contains("line " + std::to_string(last) + "\n"));
  CHECK_THAT(r.output, Catch::Contains("of 5000 (output limit reached); continue with start_line=" + std::to_string(last + 1)));
}

TEST_CASE("read_file refuses a file too large to load and says how to look at it") {
  TempWorkspace t;
  t.write("huge.log", "");
  fs::resize_file(t.root / "huge.log", 300u << 20);  // sparse: costs no disk
  auto r = t.call("read_file", {{"path", "huge.log"}});
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.output, Catch::StartsWith("huge.log is 300 MiB, too large to load"));
  CHECK_THAT(r.output, Catch::Contains("sed -n"));
}

TEST_CASE("write_file creates parent directories, reports size, keeps the mode of an existing file") {
  TempWorkspace t;
  auto r = t.call("write_file", {{"path", "deep/er/new.py"}, {"content", "a = 1\nb = 2\n"}});
  REQUIRE(r.ok);
  CHECK(t.read("deep/er/new.py") == "a = 1\nb = 2\n");
  CHECK(r.output == "Created deep/er/new.py: 12 bytes, 2 lines");

  t.write("run.sh", "echo old\n");
  fs::permissions(t.root / "run.sh", fs::perms(0755));
  auto o = t.call("write_file", {{"path", "run.sh"}, {"content", "echo new\n"}});
  REQUIRE(o.ok);
  CHECK_THAT(o.output, Catch::StartsWith("Overwrote run.sh"));
  CHECK(t.read("run.sh") == "echo new\n");
  CHECK((fs::status(t.root / "run.sh").permissions() & fs::perms::all) == fs::perms(0755));
  // No temporary files left behind.
  size_t n = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(t.root)) ++n;
  CHECK(n == 2);

  fs::create_directory(t.root / "adir");
  CHECK_FALSE(t.call("write_file", {{"path", "adir"}, {"content", "x"}}).ok);
}

TEST_CASE("edit_file replaces a unique match and shows the edited region") {
  TempWorkspace t;
  t.write("m.py", "def f():\n    return 1\n\ndef g():\n    return 2\n");
  fs::permissions(t.root / "m.py", fs::perms(0754));
  auto r = t.call("edit_file", {{"path", "m.py"}, {"old_str", "def g():\n    return 2\n"}, {"new_str", "def g():\n    return 3\n"}});
  REQUIRE(r.ok);
  CHECK(t.read("m.py") == "def f():\n    return 1\n\ndef g():\n    return 3\n");
  CHECK((fs::status(t.root / "m.py").permissions() & fs::perms::all) == fs::perms(0754));
  CHECK_THAT(r.output, Catch::StartsWith("Edited m.py at line 5: -1 +1 lines"));
  CHECK_THAT(r.output, Catch::Contains("-     5\t    return 2\n+     5\t    return 3"));
  CHECK_THAT(r.output, Catch::Contains("      4\tdef g():"));  // context before
}

TEST_CASE("edit_file with zero matches suggests the closest regions") {
  TempWorkspace t;
  std::string text = numbered(1, 30);
  text += "    if (count > limit) {\n        flush(buffer);\n    }\n";
  text += numbered(34, 60);
  t.write("c.c", text);

  SECTION("indentation differs") {
    auto r = t.call("edit_file", {{"path", "c.c"}, {"old_str", "if (count > limit) {\n  flush(buffer);\n}"}, {"new_str", "x"}});
    CHECK_FALSE(r.ok);
    CHECK_THAT(r.output, Catch::Contains("lines 31-33 (matches if whitespace is ignored)"));
    CHECK_THAT(r.output, Catch::Contains("    32\t        flush(buffer);"));
  }
  SECTION("a typo: best fuzzy line overlap") {
    auto r = t.call("edit_file", {{"path", "c.c"}, {"old_str", "    if (count > limt) {\n        flush(bufer);\n"}, {"new_str", "x"}});
    CHECK_FALSE(r.ok);
    CHECK_THAT(r.output, Catch::Contains("lines 31-32 ("));
    CHECK_THAT(r.output, Catch::Contains("% similar"));
  }
  SECTION("line numbers copied from read_file are called out") {
    auto r = t.call("edit_file", {{"path", "c.c"}, {"old_str", "    32\t        flush(buffer);\n"}, {"new_str", "x"}});
    CHECK_FALSE(r.ok);
    CHECK_THAT(r.output, Catch::Contains("line numbers"));
  }
  SECTION("nothing similar") {
    auto r = t.call("edit_file", {{"path", "c.c"}, {"old_str", "zzzz qqqq"}, {"new_str", "x"}});
    CHECK_FALSE(r.ok);
    CHECK_THAT(r.output, Catch::Contains("No similar region"));
  }
  CHECK(t.read("c.c") == text);  // never changed
}

TEST_CASE("edit_file with two matches lists their lines and changes nothing") {
  TempWorkspace t;
  const std::string text = "x = 1\ny = 2\nx = 1\n";
  t.write("d.py", text);
  auto r = t.call("edit_file", {{"path", "d.py"}, {"old_str", "x = 1"}, {"new_str", "x = 9"}});
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.output, Catch::Contains("occurs 2 times"));
  CHECK_THAT(r.output, Catch::Contains("lines 1, 3"));
  CHECK(t.read("d.py") == text);

  auto ok = t.call("edit_file", {{"path", "d.py"}, {"old_str", "y = 2\nx = 1"}, {"new_str", "y = 2\nx = 9"}});
  REQUIRE(ok.ok);
  CHECK(t.read("d.py") == "x = 1\ny = 2\nx = 9\n");
}

TEST_CASE("edit_file line picks one of several exact matches and never edits other text") {
  TempWorkspace t;
  const std::string text = "    total = 0\n    for s in xs:\n        total += len(s)\n    total\n";
  t.write("e.py", text);
  SECTION("a line where no match starts changes nothing and says so") {
    auto r = t.call("edit_file", {{"path", "e.py"}, {"old_str", "    total"}, {"new_str", "    return total"}, {"line", 2}});
    CHECK_FALSE(r.ok);
    CHECK_THAT(r.output, Catch::Contains("occurs 3 times"));
    CHECK_THAT(r.output, Catch::Contains("none of them (or more than one) starts at line 2"));
    CHECK(t.read("e.py") == text);
  }
  SECTION("text that is not in the file is not found, whatever the line") {
    auto r = t.call("edit_file", {{"path", "e.py"}, {"old_str", "    totals"}, {"new_str", "x"}, {"line", 4}});
    CHECK_FALSE(r.ok);
    CHECK_THAT(r.output, Catch::Contains("was not found"));
    CHECK(t.read("e.py") == text);
  }
  SECTION("the match that starts on the line is edited") {
    auto r = t.call("edit_file", {{"path", "e.py"}, {"old_str", "    total"}, {"new_str", "    return total"}, {"line", 4}});
    REQUIRE(r.ok);
    CHECK(t.read("e.py") == "    total = 0\n    for s in xs:\n        total += len(s)\n    return total\n");
  }
  SECTION("a unique match is taken wherever the line says") {
    auto r = t.call("edit_file", {{"path", "e.py"}, {"old_str", "for s in xs"}, {"new_str", "for s in ys"}, {"line", 9}});
    REQUIRE(r.ok);
    CHECK_THAT(t.read("e.py"), Catch::Contains("for s in ys"));
  }
}

TEST_CASE("edit_file keeps CRLF line endings and handles partial-line edits") {
  TempWorkspace t;
  t.write("w.txt", "alpha\r\nbeta\r\ngamma\r\n");
  auto r = t.call("edit_file", {{"path", "w.txt"}, {"old_str", "beta\ngamma\n"}, {"new_str", "beta\nBETA2\ngamma\n"}});
  REQUIRE(r.ok);
  CHECK(t.read("w.txt") == "alpha\r\nbeta\r\nBETA2\r\ngamma\r\n");

  t.write("p.txt", "one two three\n");
  auto p = t.call("edit_file", {{"path", "p.txt"}, {"old_str", "two"}, {"new_str", "2"}});
  REQUIRE(p.ok);
  CHECK(t.read("p.txt") == "one 2 three\n");
  CHECK_THAT(p.output, Catch::Contains("-     1\tone two three\n+     1\tone 2 three"));

  CHECK_FALSE(t.call("edit_file", {{"path", "p.txt"}, {"old_str", ""}, {"new_str", "x"}}).ok);
  CHECK_FALSE(t.call("edit_file", {{"path", "p.txt"}, {"old_str", "one"}, {"new_str", "one"}}).ok);
}
