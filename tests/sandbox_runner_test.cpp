// make_runner(): the isolating runner's mechanics (capture, status, stdin, environment,
// workdir, fresh /tmp, concurrency, policy effects) and the positive cases: compilers,
// Python, make, git and a test runner work inside `default` and `build`.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "support/loopback_listener.h"
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>

#include "sandbox/policy.h"

namespace fs = std::filesystem;
using namespace nagent::sandbox;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "nagent-runner-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// A shipped policy; these tests are not about cgroups, so they also run on hosts without
// a usable one (where the policy would otherwise refuse to start).
Policy shipped(const std::string& name) {
  Policy p = load_policy(std::string(NAGENT_SOURCE_DIR) + "/policies/" + name + ".lua");
  p.allow_without.cgroups = true;
  return p;
}

Command sh(const std::string& script, const fs::path& workdir) {
  Command c;
  c.argv = {"/bin/sh", "-c", script};
  c.workdir = workdir.string();
  c.timeout_s = 60;
  return c;
}

void write(const fs::path& file, const std::string& text) { std::ofstream(file) << text; }

}  // namespace

TEST_CASE("sandbox: captures output, exit code, signal and stdin") {
  TempDir ws;
  auto runner = make_runner(shipped("default"), ws.path.string());
  auto r = runner->run(sh("echo out; echo err >&2; exit 7", ws.path));
  CHECK(r.stdout_data == "out\n");
  CHECK(r.stderr_data == "err\n");
  CHECK(r.exit_code == 7);
  CHECK_FALSE(r.signaled());

  auto k = runner->run(sh("kill -ABRT $$", ws.path));
  CHECK(k.signal == SIGABRT);

  Command cat = sh("tr a-z A-Z", ws.path);
  cat.stdin_data = "hello sandbox";
  CHECK(runner->run(cat).stdout_data == "HELLO SANDBOX");
}

TEST_CASE("sandbox: the environment is the policy's, plus Command::env") {
  TempDir ws;
  ::setenv("NAGENT_RUNNER_TEST_SECRET", "leak", 1);
  auto runner = make_runner(shipped("readonly"), ws.path.string());
  Command c = sh("env | sort", ws.path);
  c.env["MY_VAR"] = "1";
  auto r = runner->run(c);
  ::unsetenv("NAGENT_RUNNER_TEST_SECRET");
  CHECK(r.stdout_data.find("leak") == std::string::npos);
  CHECK(r.stdout_data.find("HOME=/tmp\n") != std::string::npos);
  CHECK(r.stdout_data.find("MY_VAR=1\n") != std::string::npos);
  CHECK(r.stdout_data.find("PYTHONDONTWRITEBYTECODE=1\n") != std::string::npos);  // readonly's set_env
  CHECK(r.stdout_data.find("TERM=dumb\n") != std::string::npos);
}

TEST_CASE("sandbox: runs in a workdir inside the workspace and refuses one outside") {
  TempDir ws, other;
  fs::create_directories(ws.path / "sub" / "dir");
  auto runner = make_runner(shipped("default"), ws.path.string());
  auto r = runner->run(sh("pwd", ws.path / "sub" / "dir"));
  CHECK(r.stdout_data == (fs::canonical(ws.path) / "sub" / "dir").string() + "\n");
  CHECK_THROWS_AS(runner->run(sh("pwd", other.path)), SandboxError);
  CHECK_THROWS_AS(runner->run(sh("pwd", ws.path / ".." / fs::path(other.path).filename())), SandboxError);
}

TEST_CASE("sandbox: a missing program is exit 127 with a message") {
  TempDir ws;
  auto runner = make_runner(shipped("default"), ws.path.string());
  Command c;
  c.argv = {"nagent-no-such-tool"};
  c.workdir = ws.path.string();
  auto r = runner->run(c);
  CHECK(r.exit_code == 127);
  CHECK(r.stderr_data.find("nagent-no-such-tool: command not found") != std::string::npos);
}

TEST_CASE("sandbox: each run gets a fresh private /tmp") {
  TempDir ws;
  auto runner = make_runner(shipped("default"), ws.path.string());
  CHECK(runner->run(sh("echo x > /tmp/left-behind && cat /tmp/left-behind", ws.path)).stdout_data == "x\n");
  CHECK(runner->run(sh("test -e /tmp/left-behind && echo still there || echo gone", ws.path)).stdout_data == "gone\n");
  CHECK_FALSE(fs::exists("/tmp/left-behind"));  // and never on the host
}

TEST_CASE("sandbox: concurrent runs of one runner do not disturb each other") {
  TempDir ws;
  auto runner = make_runner(shipped("default"), ws.path.string());
  std::vector<std::future<Result>> runs;
  for (int i = 0; i < 4; ++i)
    runs.push_back(std::async(std::launch::async, [&, i] {
      return runner->run(sh("sleep 0.2; echo run" + std::to_string(i), ws.path));
    }));
  for (int i = 0; i < 4; ++i) {
    auto r = runs[i].get();
    CHECK(r.ok());
    CHECK(r.stdout_data == "run" + std::to_string(i) + "\n");
  }
}

TEST_CASE("sandbox: readonly makes the workspace read-only but /tmp writable") {
  TempDir ws;
  write(ws.path / "README", "docs\n");
  auto runner = make_runner(shipped("readonly"), ws.path.string());
  auto r = runner->run(sh("cat README; echo x > new.txt; echo y > /tmp/scratch && cat /tmp/scratch", ws.path));
  CHECK(r.stdout_data == "docs\ny\n");
  CHECK(r.stderr_data.find("Read-only file system") != std::string::npos);
  CHECK_FALSE(fs::exists(ws.path / "new.txt"));
}

TEST_CASE("sandbox: network = host reaches the host's loopback (the control for the denial)") {
  LoopbackListener listener;
  TempDir ws;
  Policy p = shipped("default");
  p.network = true;
  auto runner = make_runner(p, ws.path.string());
  auto r = runner->run(sh("/usr/bin/python3 -c \"import socket; socket.create_connection(('127.0.0.1', " +
                              std::to_string(listener.port()) + "), 3); print('connected')\"",
                          ws.path));
  CHECK(r.stdout_data == "connected\n");
}

TEST_CASE("sandbox: a non-optional bind that does not exist is refused naming the fix") {
  TempDir ws;
  Policy p = shipped("default");
  p.binds.push_back({"/nonexistent/nagent-toolchain", false, false});
  try {
    make_runner(p, ws.path.string());
    FAIL("make_runner accepted a missing bind");
  } catch (const SandboxError& e) {
    CHECK(std::string(e.what()).find("/nonexistent/nagent-toolchain") != std::string::npos);
    CHECK(std::string(e.what()).find("optional = true") != std::string::npos);
  }
}

TEST_CASE("sandbox: policy none is the plain runner") {
  TempDir ws;
  auto runner = make_runner(load_policy("none"), ws.path.string());
  CHECK(runner->describe().find("no isolation") != std::string::npos);
  CHECK(runner->run(sh("echo plain", ws.path)).stdout_data == "plain\n");
}

TEST_CASE("sandbox: describe() names the policy, namespaces, seccomp, cgroups and mounts") {
  TempDir ws;
  auto d = make_runner(shipped("default"), ws.path.string())->describe();
  CHECK(d.find("sandbox policy default") != std::string::npos);
  CHECK(d.find("net (loopback only)") != std::string::npos);
  CHECK(d.find("seccomp: default profile") != std::string::npos);
  CHECK(d.find("ro    /usr") != std::string::npos);
  CHECK(d.find("rw    " + fs::canonical(ws.path).string()) != std::string::npos);
}

TEST_CASE("sandbox: python3 inside is the python3 outside") {
  TempDir ws;
  auto where = "python3 -c 'import sys; print(sys.executable, sys.version)'";
  auto outside = make_plain_runner()->run(sh(where, ws.path));
  auto inside = make_runner(shipped("default"), ws.path.string())->run(sh(where, ws.path));
  REQUIRE(outside.ok());
  CHECK(inside.ok());
  CHECK(inside.stdout_data == outside.stdout_data);
}

TEST_CASE("sandbox: cc, make, git and a Python test runner work inside default and build") {
  for (const char* policy : {"default", "build"}) {
    SECTION(policy) {
      TempDir ws;
      write(ws.path / "hello.c", "#include <stdio.h>\nint main(void) { puts(\"hello from c\"); return 0; }\n");
      write(ws.path / "Makefile", "hello: hello.c\n\tcc -O2 -o hello hello.c\n");
      write(ws.path / "test_calc.py",
            "import unittest\n"
            "class Calc(unittest.TestCase):\n"
            "    def test_add(self): self.assertEqual(1 + 1, 2)\n"
            "    def test_str(self): self.assertEqual('a' * 3, 'aaa')\n");
      // The repository is made on the host; inside, .git is read-only (default) but
      // reading history and status works.
      auto setup = make_plain_runner()->run(sh(
          "git init -q -b main . && git -c user.email=t@t -c user.name=t add hello.c && "
          "git -c user.email=t@t -c user.name=t commit -q -m init",
          ws.path));
      REQUIRE(setup.ok());
      auto runner = make_runner(shipped(policy), ws.path.string());
      auto r = runner->run(sh("make -s && ./hello && git log --format=%s && git status --short hello.c && "
                              "/usr/bin/python3 -m unittest -q test_calc 2>&1 | tail -1 && c++ --version | head -1",
                              ws.path));
      INFO(r.stderr_data);
      CHECK(r.ok());
      CHECK(r.stdout_data.starts_with("hello from c\ninit\nOK\n"));
      CHECK(fs::exists(ws.path / "hello"));  // built into the host's workspace
    }
  }
}

TEST_CASE("sandbox: without root it runs in a user namespace as the caller's own uid") {
  if (::geteuid() != 0) {
    WARN("skipped: needs root to switch to an unprivileged user for the test");
    return;
  }
  TempDir ws;
  REQUIRE(::chown(ws.path.c_str(), 65534, 65534) == 0);
  int out[2];
  REQUIRE(::pipe(out) == 0);
  pid_t child = ::fork();
  if (child == 0) {
    // As nobody: a user namespace is needed for everything else, and there is no
    // writable cgroup, which this policy accepts.
    ::close(out[0]);
    std::string text;
    if (::setgroups(0, nullptr) == 0 && ::setresgid(65534, 65534, 65534) == 0 && ::setresuid(65534, 65534, 65534) == 0) {
      try {
        Policy p = shipped("default");
        p.binds.clear();
        p.binds.push_back({"/usr", false, false});
        for (const char* link : {"/bin", "/lib", "/lib64"}) p.binds.push_back({link, false, true});
        auto runner = make_runner(p, ws.path.string());
        auto r = runner->run(sh("id -u; cat /proc/self/uid_map | tr -s ' '; echo x > f && echo wrote; "
                                "grep CapEff /proc/self/status",
                                ws.path));
        text = r.stdout_data + r.note;
      } catch (const std::exception& e) {
        text = std::string("error: ") + e.what();
      }
    }
    ssize_t unused = ::write(out[1], text.data(), text.size());
    (void)unused;
    ::_exit(0);
  }
  ::close(out[1]);
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<size_t>(n));
  ::close(out[0]);
  ::waitpid(child, nullptr, 0);
  INFO(got);
  CHECK(got.starts_with("65534\n 65534 65534 1\nwrote\nCapEff:\t0000000000000000\n"));
  CHECK(fs::exists(ws.path / "f"));
}
