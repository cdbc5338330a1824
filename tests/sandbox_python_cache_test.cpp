// The default policy must not let Python run stale bytecode: a cached .pyc is trusted when the
// source's size and whole-second mtime are unchanged, which a same-length edit made by an
// agent right after a test run can produce. Here the mtime is forced equal, so the stale case
// happens deterministically if .pyc files are written.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include "sandbox/policy.h"
#include "support/temp_repo.h"

using namespace nagent;

TEST_CASE("default policy: a same-size edit with the same mtime is seen by the next Python run", "[sandbox]") {
  TempDir dir("pycache");
  const auto ws = dir.path();
  write_text(ws / "mod.py", "X = 1\n");
  write_text(ws / "main.py", "import mod\nprint(mod.X)\n");
  struct stat before {};
  REQUIRE(stat((ws / "mod.py").c_str(), &before) == 0);

  auto runner = sandbox::make_runner(sandbox::load_policy("default"), ws.string());
  sandbox::Command cmd;
  cmd.argv = {"python3", "main.py"};
  cmd.workdir = ws.string();
  sandbox::Result first = runner->run(cmd);
  REQUIRE(first.ok());
  CHECK(first.stdout_data == "1\n");

  write_text(ws / "mod.py", "X = 2\n");
  const struct timespec times[2] = {before.st_atim, before.st_mtim};
  REQUIRE(utimensat(AT_FDCWD, (ws / "mod.py").c_str(), times, 0) == 0);
  sandbox::Result second = runner->run(cmd);
  REQUIRE(second.ok());
  CHECK(second.stdout_data == "2\n");
  CHECK_FALSE(std::filesystem::exists(ws / "__pycache__"));
}
