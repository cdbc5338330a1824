// make_plain_runner(): real subprocesses; checks capture, caps, stdin, timeout, tree
// killing, environment scrubbing and exit/signal reporting.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "sandbox/sandbox.h"

namespace fs = std::filesystem;
using nagent::sandbox::Command;
using nagent::sandbox::make_plain_runner;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "nagent-plain-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path); }
};

// Alive and not a zombie (an unreaped zombie still answers kill(pid, 0)).
bool process_running(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  auto close_paren = line.rfind(')');
  return close_paren != std::string::npos && line.size() > close_paren + 2 && line[close_paren + 2] != 'Z';
}

// Processes killed with SIGKILL may take a moment to be torn down by the kernel.
bool gone_soon(pid_t pid) {
  for (int i = 0; i < 100 && process_running(pid); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return !process_running(pid);
}

Command cmd(std::vector<std::string> argv, const std::string& workdir = "") {
  Command c;
  c.argv = std::move(argv);
  c.workdir = workdir;
  c.timeout_s = 20;
  return c;
}

Command sh(const std::string& script, const std::string& workdir = "") {
  return cmd({"/bin/sh", "-c", script}, workdir);
}

}  // namespace

TEST_CASE("plain runner captures stdout, stderr and the exit code separately") {
  auto runner = make_plain_runner();
  auto r = runner->run(sh("echo out; echo err >&2; exit 3"));
  CHECK(r.stdout_data == "out\n");
  CHECK(r.stderr_data == "err\n");
  CHECK(r.exit_code == 3);
  CHECK_FALSE(r.signaled());
  CHECK_FALSE(r.timed_out);
  CHECK_FALSE(r.ok());
  CHECK(r.duration_ms > 0);
}

TEST_CASE("plain runner reports the terminating signal") {
  auto r = make_plain_runner()->run(sh("kill -SEGV $$"));
  CHECK(r.signaled());
  CHECK(r.signal == SIGSEGV);
  CHECK_FALSE(r.ok());
}

TEST_CASE("plain runner feeds stdin larger than a pipe buffer while reading output") {
  Command c = cmd({"cat"});
  c.stdin_data.resize(3 << 20);
  for (size_t i = 0; i < c.stdin_data.size(); ++i) c.stdin_data[i] = static_cast<char>('a' + i % 26);
  auto r = make_plain_runner()->run(c);
  REQUIRE(r.ok());
  CHECK(r.stdout_data == c.stdin_data);
}

TEST_CASE("plain runner survives a child that does not read its stdin") {
  Command c = sh("exec 0<&-; echo closed");
  c.stdin_data.assign(1 << 20, 'x');
  auto r = make_plain_runner()->run(c);
  CHECK(r.ok());
  CHECK(r.stdout_data == "closed\n");
}

TEST_CASE("plain runner gives a command without stdin data an empty stdin") {
  auto r = make_plain_runner()->run(sh("wc -c"));
  CHECK(r.stdout_data == "0\n");
}

TEST_CASE("plain runner caps each stream and counts the rest") {
  Command c = sh("head -c 5000000 /dev/zero; head -c 300 /dev/zero >&2");
  c.output_cap_bytes = 1000;
  auto r = make_plain_runner()->run(c);
  CHECK(r.ok());
  CHECK(r.stdout_data.size() == 1000);
  CHECK(r.stdout_dropped == 5000000 - 1000);
  CHECK(r.stderr_data.size() == 300);
  CHECK(r.stderr_dropped == 0);
}

TEST_CASE("plain runner kills the whole process group at the timeout") {
  TempDir dir;
  Command c = sh("sleep 100 & echo $! > bg.pid; sleep 100", dir.path.string());
  c.timeout_s = 0.3;
  auto r = make_plain_runner()->run(c);
  CHECK(r.timed_out);
  CHECK(r.signal == SIGTERM);
  CHECK(r.duration_ms < 3000);
  std::ifstream f(dir.path / "bg.pid");
  pid_t bg = 0;
  REQUIRE(f >> bg);
  CHECK(gone_soon(bg));
}

TEST_CASE("plain runner sends SIGKILL after the grace period when SIGTERM is ignored") {
  Command c = sh("trap '' TERM; sleep 100; sleep 100");
  c.timeout_s = 0.2;
  c.kill_grace_s = 0.2;
  auto start = std::chrono::steady_clock::now();
  auto r = make_plain_runner()->run(c);
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(r.timed_out);
  CHECK(r.signal == SIGKILL);
  CHECK(took >= std::chrono::milliseconds(350));
  CHECK(took < std::chrono::seconds(3));
}

TEST_CASE("plain runner kills background processes left when the command exits") {
  auto r = make_plain_runner()->run(sh("sleep 100 & echo $!"));
  CHECK(r.exit_code == 0);
  // The straggler held stdout open; the run still ends promptly because it is killed.
  CHECK(r.duration_ms < 2000);
  pid_t bg = std::stoi(r.stdout_data);
  CHECK(gone_soon(bg));
}

TEST_CASE("plain runner scrubs the environment and adds Command::env") {
  TempDir dir;
  ::setenv("NAGENT_PLAIN_TEST_SECRET", "hunter2", 1);
  Command c = sh("env", dir.path.string());
  c.env["EXTRA_VAR"] = "extra value";
  auto r = make_plain_runner()->run(c);
  ::unsetenv("NAGENT_PLAIN_TEST_SECRET");
  REQUIRE(r.ok());
  CHECK(r.stdout_data.find("hunter2") == std::string::npos);
  CHECK(r.stdout_data.find("HOME=" + dir.path.string() + "\n") != std::string::npos);
  CHECK(r.stdout_data.find("TERM=dumb\n") != std::string::npos);
  CHECK(r.stdout_data.find("LC_ALL=C.UTF-8\n") != std::string::npos);
  CHECK(r.stdout_data.find("EXTRA_VAR=extra value\n") != std::string::npos);
  CHECK(r.stdout_data.find("PATH=") != std::string::npos);
}

TEST_CASE("plain runner runs in the workdir and finds programs on PATH") {
  TempDir dir;
  auto r = make_plain_runner()->run(cmd({"pwd"}, dir.path.string()));
  CHECK(r.ok());
  CHECK(r.stdout_data == fs::canonical(dir.path).string() + "\n");
}

TEST_CASE("plain runner reports a missing program as exit 127 and a bad workdir as an error") {
  auto r = make_plain_runner()->run(cmd({"nagent-no-such-program"}));
  CHECK(r.exit_code == 127);
  CHECK(r.stderr_data.find("nagent-no-such-program: command not found") != std::string::npos);
  CHECK_THROWS_AS(make_plain_runner()->run(cmd({"true"}, "/nonexistent/dir")),
                  nagent::sandbox::SandboxError);
  CHECK_THROWS_AS(make_plain_runner()->run(Command{}), nagent::sandbox::SandboxError);
}

TEST_CASE("plain runner does not leak the caller's descriptors") {
  int p[2];
  REQUIRE(::pipe(p) == 0);  // deliberately without O_CLOEXEC
  auto r = make_plain_runner()->run(sh("ls /proc/self/fd | wc -l"));
  ::close(p[0]);
  ::close(p[1]);
  // 0, 1, 2 and the fd ls uses to read the directory.
  CHECK(r.stdout_data == "4\n");
}
