// `nagent sandbox`: the real binary, run as a user would; stdio passes through and the
// exit status is the command's.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "sandbox/sandbox.h"

namespace fs = std::filesystem;
using namespace nagent::sandbox;

namespace {

Result nagent_sandbox(std::vector<std::string> args, const std::string& stdin_data = "") {
  Command c;
  c.argv = {NAGENT_BINARY, "sandbox"};
  c.argv.insert(c.argv.end(), args.begin(), args.end());
  c.stdin_data = stdin_data;
  c.timeout_s = 60;
  c.env["NAGENT_DATA_DIR"] = NAGENT_SOURCE_DIR;
  return make_plain_runner()->run(c);
}

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "nagent-cli-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path); }
};

}  // namespace

TEST_CASE("nagent sandbox passes stdio through and returns the command's exit status") {
  TempDir ws;
  auto r = nagent_sandbox({"--workdir", ws.path.string(), "--", "sh", "-c", "cat; echo to-err >&2; exit 42"}, "piped in\n");
  CHECK(r.exit_code == 42);
  CHECK(r.stdout_data == "piped in\n");
  CHECK(r.stderr_data == "to-err\n");
}

TEST_CASE("nagent sandbox applies the named policy") {
  TempDir ws;
  auto r = nagent_sandbox({"--policy", "readonly", "--workdir", ws.path.string(), "--", "touch", "x"});
  CHECK(r.exit_code == 1);
  CHECK(r.stderr_data.find("Read-only file system") != std::string::npos);
  CHECK_FALSE(fs::exists(ws.path / "x"));
}

TEST_CASE("nagent sandbox reports signals as 128+N and the timeout as 124") {
  TempDir ws;
  CHECK(nagent_sandbox({"--workdir", ws.path.string(), "--", "sh", "-c", "kill -KILL $$"}).exit_code == 128 + 9);
  CHECK(nagent_sandbox({"--workdir", ws.path.string(), "--timeout", "1", "--", "sleep", "30"}).exit_code == 124);
}

TEST_CASE("nagent sandbox --verbose prints the plan") {
  TempDir ws;
  auto r = nagent_sandbox({"--verbose", "--workdir", ws.path.string(), "--", "true"});
  CHECK(r.exit_code == 0);
  CHECK(r.stderr_data.find("sandbox policy default") != std::string::npos);
  CHECK(r.stderr_data.find("ro    /usr") != std::string::npos);
  CHECK(r.stderr_data.find("exit 0 after") != std::string::npos);
}

TEST_CASE("nagent sandbox rejects bad usage and bad policies with exit 2") {
  TempDir ws;
  auto no_cmd = nagent_sandbox({});
  CHECK(no_cmd.exit_code == 2);
  CHECK(no_cmd.stderr_data.find("give the command after --") != std::string::npos);
  auto bad = nagent_sandbox({"--policy", "no-such-policy", "--", "true"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.stderr_data.find("no such policy") != std::string::npos);
  auto root = nagent_sandbox({"--workdir", "/", "--", "true"});
  CHECK(root.exit_code == 3);
  CHECK(root.stderr_data.find("cannot be sandboxed") != std::string::npos);
}
