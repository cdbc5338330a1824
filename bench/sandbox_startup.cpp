// Start-up cost of the sandbox: spawn /bin/true, wait, reap, measured side by side (in
// rotating blocks of runs, so load on the machine hits every variant alike) for
//   fork+exec      the baseline: fork(), execv("/bin/true"), waitpid()
//   plain runner   make_plain_runner() (policy none): pipes, poll, process group
//   nagent default make_runner(default policy): namespaces, mounts, seccomp, cgroups
//   bwrap          bubblewrap with the equivalent view, namespaces and the same seccomp program
// then the same for fork+exec and nagent default with a pause before every run, as an
// agent's commands come (costs that back-to-back runs share, e.g. an RCU grace period
// the kernel has just completed for the previous run, are paid afresh by each),
// then the per-call cost of common syscalls (stat, open/read/close, ...) inside against
// outside, and then a 100-test Python unittest suite inside the default sandbox against
// outside it, in interleaved pairs, wall and CPU time.
// The load average is printed with every part (the machine is shared).
//
// usage: bench_sandbox_startup [RUNS (default 1000)] [SUITE_PAIRS (default 100)]
// (RUNS 0 skips the start-up parts.) Also: bench_sandbox_startup --syscalls N, the loop that
// the per-syscall part runs inside and outside.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "sandbox/policy.h"
#include "sandbox/seccomp_filter.h"

namespace fs = std::filesystem;
using namespace nagent::sandbox;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

// fork + exec + wait of argv, stdout/stderr to /dev/null; returns the exit status.
int spawn_and_wait(const std::vector<std::string>& args, const std::vector<int>& keep_fds = {}) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    for (int fd : keep_fds) ::fcntl(fd, F_SETFD, 0);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

// bwrap arguments equivalent to the default policy's view: the same binds, a private
// /tmp, /dev and /proc, all namespaces, no capabilities, the same seccomp program (fd).
std::vector<std::string> bwrap_args(const Policy& policy, const std::string& workspace, int seccomp_fd) {
  std::vector<std::string> a = {"/usr/bin/bwrap", "--unshare-all", "--die-with-parent", "--new-session",
                                "--cap-drop", "ALL"};
  for (const auto& b : policy.binds) {
    std::error_code ec;
    auto status = fs::symlink_status(b.path, ec);
    if (ec || !fs::exists(status)) continue;
    if (fs::is_symlink(status)) {
      a.insert(a.end(), {"--symlink", fs::read_symlink(b.path).string(), b.path});
    } else {
      a.insert(a.end(), {b.writable ? "--bind" : "--ro-bind", b.path, b.path});
    }
  }
  a.insert(a.end(), {"--tmpfs", "/tmp", "--bind", workspace, workspace, "--dev", "/dev", "--proc", "/proc",
                     "--chdir", workspace, "--seccomp", std::to_string(seccomp_fd), "/bin/true"});
  return a;
}

// CPU time of this process's reaped descendants so far (a sandboxed run's processes are
// reaped by its init, which the runner reaps, so they count too).
double children_cpu_ms() {
  rusage u{};
  ::getrusage(RUSAGE_CHILDREN, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

void print_load(const char* when) {
  double load[3] = {0, 0, 0};
  if (::getloadavg(load, 3) == 3) std::printf("  (load average %s: %.2f %.2f %.2f)\n", when, load[0], load[1], load[2]);
}

// --syscalls mode (what the bench runs inside and outside the sandbox, from a copy of
// itself in the workspace): the per-call cost of the syscalls a Python test run makes most,
// in ns per call, one "name ns" line each. The file is a system file (a bind inside), the
// directory the workspace (a bind of a host directory inside) and /tmp (tmpfs inside).
int syscall_loop(int n) {
  auto per_call = [](int count, auto&& body) {
    auto start = Clock::now();
    for (int i = 0; i < count; ++i) body();
    return ms_since(start) * 1e6 / count;
  };
  struct stat st;
  const char* sys_file = "/usr/bin/env";
  char buf[512];
  std::printf("getppid %.1f\n", per_call(n, [] { ::getppid(); }));
  std::printf("stat_usr %.1f\n", per_call(n, [&] { ::stat(sys_file, &st); }));
  std::printf("stat_missing %.1f\n", per_call(n, [&] { ::stat("/usr/lib/no-such-module.py", &st); }));
  std::printf("stat_workspace %.1f\n", per_call(n, [&] { ::stat("test_suite.py", &st); }));
  std::printf("open_read_close %.1f\n", per_call(n / 4, [&] {
                int fd = ::open(sys_file, O_RDONLY | O_CLOEXEC);
                if (::read(fd, buf, sizeof buf) < 0) std::abort();
                ::close(fd);
              }));
  std::printf("ioctl_fionread %.1f\n", per_call(n, [&] { ::ioctl(0, FIONREAD, buf); }));
  std::string tmp = "/tmp/nagent-bench-loop-" + std::to_string(::getpid());
  std::printf("tmp_create_write_unlink %.1f\n", per_call(n / 10, [&] {
                int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (::write(fd, buf, sizeof buf) < 0) std::abort();
                ::close(fd);
                ::unlink(tmp.c_str());
              }));
  // The suite's python3 may be a shim that forks: a pyenv shim is a bash script that runs
  // about 40 processes before it execs the interpreter.
  std::printf("fork_exec_wait_true %.1f\n", per_call(std::max(1, n / 1000), [] {
                pid_t pid = ::fork();
                if (pid == 0) {
                  ::execl("/bin/true", "true", nullptr);
                  ::_exit(127);
                }
                int status;
                ::waitpid(pid, &status, 0);
              }));
  return 0;
}

struct Variant {
  const char* name;
  std::function<void()> run;
  std::vector<double> ms;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc > 2 && std::string(argv[1]) == "--syscalls") return syscall_loop(std::atoi(argv[2]));
  int runs = argc > 1 ? std::atoi(argv[1]) : 1000;
  int suite_repeats = argc > 2 ? std::atoi(argv[2]) : 100;
  std::string tmpl = (fs::temp_directory_path() / "nagent-bench-XXXXXX").string();
  std::string workspace = ::mkdtemp(tmpl.data());

  Policy policy = load_policy("default");  // $NAGENT_DATA_DIR/policies, else the source tree
  std::unique_ptr<Runner> sandbox;
  try {
    sandbox = make_runner(policy, workspace);
  } catch (const SandboxError& e) {
    std::printf("note: %s\n      measuring without cgroups instead\n", e.what());
    policy.allow_without.cgroups = true;
    sandbox = make_runner(policy, workspace);
  }
  auto plain = make_plain_runner();

  // bwrap gets the same compiled seccomp program, from a memfd rewound before each run.
  std::string bpf = SeccompProgram::build({}).bytes();
  int seccomp_fd = ::memfd_create("bench-seccomp", 0);
  if (::write(seccomp_fd, bpf.data(), bpf.size()) != static_cast<ssize_t>(bpf.size())) return 1;
  std::vector<std::string> bwrap = bwrap_args(policy, workspace, seccomp_fd);
  bool have_bwrap = fs::exists(bwrap[0]);

  Command t;
  t.argv = {"/bin/true"};
  t.workdir = workspace;
  auto check = [](const Result& r) {
    if (!r.ok()) std::fprintf(stderr, "run failed: %s\n", r.stderr_data.c_str()), std::exit(1);
  };
  std::vector<Variant> variants = {
      {"fork+exec", [] { spawn_and_wait({"/bin/true"}); }, {}},
      {"plain runner (none)", [&] { check(plain->run(t)); }, {}},
      {"nagent default", [&] { check(sandbox->run(t)); }, {}},
  };
  if (have_bwrap) {
    if (::lseek(seccomp_fd, 0, SEEK_SET) != 0 || spawn_and_wait(bwrap, {seccomp_fd}) != 0) {
      std::fprintf(stderr, "bwrap does not run here; leaving it out\n");
    } else {
      variants.push_back({"bwrap (equivalent)", [&] {
                            ::lseek(seccomp_fd, 0, SEEK_SET);
                            spawn_and_wait(bwrap, {seccomp_fd});
                          }, {}});
    }
  }
  // Blocks of runs, rotating through the variants, so load on the machine hits each alike.
  // bwrap makes a network namespace per run whose teardown the kernel defers to a worker
  // that then competes for the CPUs: after a bwrap block the bench waits for the machine
  // to go quiet again, so that cost lands on bwrap and not on the next variant.
  constexpr int kBlock = 50;
  print_load("at the start");
  if (runs > 0) {
    for (int done = 0; done < runs; done += kBlock)
      for (auto& v : variants) {
        for (int i = done; i < std::min(runs, done + kBlock); ++i) {
          auto start = Clock::now();
          v.run();
          v.ms.push_back(ms_since(start));
        }
        if (std::string(v.name).starts_with("bwrap")) ::usleep(1500 * 1000);
      }
    std::printf("start-up: spawn /bin/true, wait, reap; %d runs of each, in rotating blocks of %d\n", runs, kBlock);
    double base = percentile(variants[0].ms, 0.5);
    for (auto& v : variants)
      std::printf("  %-22s p50 %7.3f ms  p99 %7.3f ms  overhead over fork+exec (p50) %+7.3f ms\n", v.name,
                  percentile(v.ms, 0.5), percentile(v.ms, 0.99), percentile(v.ms, 0.5) - base);
    if (variants.size() == 4)
      std::printf("  nagent default / bwrap (p50): %.2f\n", percentile(variants[2].ms, 0.5) / percentile(variants[3].ms, 0.5));
    print_load("after");

    // Spaced runs: 100 ms of idleness before each, alternating fork+exec and nagent default.
    constexpr int kSpaced = 50;
    std::vector<double> spaced[2];
    for (int i = 0; i < kSpaced; ++i)
      for (int v = 0; v < 2; ++v) {
        ::usleep(100 * 1000);
        auto start = Clock::now();
        variants[v == 0 ? 0 : 2].run();
        spaced[v].push_back(ms_since(start));
      }
    std::printf("spaced start-up: %d runs of each, 100 ms apart\n", kSpaced);
    for (int v = 0; v < 2; ++v)
      std::printf("  %-22s p50 %7.3f ms  p90 %7.3f ms\n", v == 0 ? "fork+exec" : "nagent default",
                  percentile(spaced[v], 0.5), percentile(spaced[v], 0.9));
    std::printf("  overhead (p50) %+7.3f ms\n", percentile(spaced[1], 0.5) - percentile(spaced[0], 0.5));
    print_load("after");
  }

  // A 100-test Python suite (each test does a little computing and file I/O in /tmp),
  // run with the same interpreter outside (plain runner) and inside the default sandbox.
  std::ofstream suite(fs::path(workspace) / "test_suite.py");
  suite << "import hashlib, os, tempfile, unittest\n"
           "class Suite(unittest.TestCase):\n"
           "    pass\n"
           "def make(i):\n"
           "    def test(self):\n"
           "        data = hashlib.sha256(str(i).encode()).digest() * 2000\n"
           "        with tempfile.NamedTemporaryFile() as f:\n"
           "            f.write(data); f.flush()\n"
           "            self.assertEqual(os.path.getsize(f.name), len(data))\n"
           "        self.assertEqual(sum(range(20000 + i)), (20000 + i) * (19999 + i) // 2)\n"
           "    return test\n"
           "for i in range(100):\n"
           "    setattr(Suite, 'test_%03d' % i, make(i))\n";
  suite.close();

  // Per-syscall cost inside against outside: this program's --syscalls loop, copied into
  // the workspace (the build tree is not in the sandbox's view), a few runs of each,
  // alternating which goes first.
  {
    fs::copy_file("/proc/self/exe", fs::path(workspace) / "bench_syscalls");
    fs::permissions(fs::path(workspace) / "bench_syscalls", fs::perms::owner_exec, fs::perm_options::add);
    Command loop;
    loop.argv = {workspace + "/bench_syscalls", "--syscalls", "200000"};
    loop.workdir = workspace;
    constexpr int kLoopRuns = 7;
    std::vector<std::string> names;
    std::map<std::string, std::vector<double>> ns[2];  // [0] outside, [1] inside
    for (int i = 0; i < kLoopRuns; ++i)
      for (int k = 0; k < 2; ++k) {
        int where = (i % 2) ^ k;
        auto r = (where == 0 ? plain : sandbox)->run(loop);
        if (!r.ok()) {
          std::fprintf(stderr, "syscall loop failed: %s\n", r.stderr_data.c_str());
          return 1;
        }
        std::istringstream in(r.stdout_data);
        std::string name;
        double value;
        while (in >> name >> value) {
          if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
          ns[where][name].push_back(value);
        }
      }
    // The fastest run of each: a loop of one syscall does the same work every time, and on a
    // shared machine the slower runs are the ones that lost the CPU for a while.
    std::printf("per-syscall cost, ns per call (best of %d runs of each, 200k calls per syscall per run)\n", kLoopRuns);
    for (const auto& name : names) {
      double o = percentile(ns[0][name], 0), in = percentile(ns[1][name], 0);
      std::printf("  %-24s outside %8.1f  inside %8.1f  (%+.1f%%)\n", name.c_str(), o, in, (in / o - 1) * 100);
    }
    print_load("after");
  }

  // The suite itself: pairs of runs, outside then inside and inside then outside in turn
  // (so neither always runs second, on a warmer cache or a CPU the other run just left),
  // after one unmeasured run of each. Medians of each side, the median of the pairs'
  // inside/outside ratios with its interquartile range, and the CPU time (user+sys of the
  // run's processes) of both, so that noise from a busy machine (wall time moves, CPU
  // time does not) can be told from overhead (both move). Bounded: it stops at
  // SUITE_PAIRS pairs or after 150 s.
  Command py;
  py.argv = {"python3", "-c", "import sys; print(sys.executable, sys.version.split()[0])"};
  py.workdir = workspace;
  std::printf("python3 outside: %s", plain->run(py).stdout_data.c_str());
  std::printf("python3 inside:  %s", sandbox->run(py).stdout_data.c_str());
  py.argv = {"python3", "-m", "unittest", "-q", "test_suite"};
  std::vector<double> outside, inside, outside_cpu, inside_cpu, ratio, cpu_ratio, ratio_by_order[2];
  auto run_suite = [&](Runner& runner, double* wall, double* cpu) {
    double cpu0 = children_cpu_ms();
    auto r = runner.run(py);
    if (cpu) *cpu = children_cpu_ms() - cpu0;
    if (!r.ok() || r.stderr_data.find("Ran 100 tests") == std::string::npos) {
      std::fprintf(stderr, "suite failed:\n%s\n", r.stderr_data.c_str());
      std::exit(1);
    }
    if (wall) *wall = r.duration_ms;
  };
  run_suite(*plain, nullptr, nullptr);
  run_suite(*sandbox, nullptr, nullptr);
  auto suite_start = Clock::now();
  int pairs = 0;
  for (; pairs < suite_repeats && ms_since(suite_start) < 150e3; ++pairs) {
    double w[2], c[2];  // [0] outside, [1] inside
    for (int k = 0; k < 2; ++k) {
      int where = (pairs % 2) ^ k;
      run_suite(where == 0 ? *plain : *sandbox, &w[where], &c[where]);
    }
    outside.push_back(w[0]);
    inside.push_back(w[1]);
    outside_cpu.push_back(c[0]);
    inside_cpu.push_back(c[1]);
    ratio.push_back(w[1] / w[0]);
    ratio_by_order[pairs % 2].push_back(w[1] / w[0]);
    cpu_ratio.push_back(c[1] / c[0]);
  }
  // NAGENT_BENCH_RAW=FILE: every pair (order, wall and CPU of each side), for a closer look.
  if (const char* raw = std::getenv("NAGENT_BENCH_RAW")) {
    std::ofstream out(raw);
    out << "pair first outside_ms inside_ms outside_cpu_ms inside_cpu_ms\n";
    for (int i = 0; i < pairs; ++i)
      out << i << (i % 2 ? " inside " : " outside ") << outside[i] << ' ' << inside[i] << ' ' << outside_cpu[i] << ' '
          << inside_cpu[i] << '\n';
  }
  auto pct = [](double r) { return (r - 1) * 100; };
  double o = percentile(outside, 0.5), in = percentile(inside, 0.5);
  std::printf("100-test Python suite (python3 -m unittest), %d pairs, alternating order, %.0f s\n", pairs,
              ms_since(suite_start) / 1e3);
  std::printf("  wall  outside (plain runner) p50 %7.1f ms  p10 %7.1f ms  min %7.1f ms\n", o, percentile(outside, 0.1),
              percentile(outside, 0));
  std::printf("  wall  inside (default)       p50 %7.1f ms  p10 %7.1f ms  min %7.1f ms\n", in, percentile(inside, 0.1),
              percentile(inside, 0));
  std::printf("  wall  overhead: of the medians %+.1f%%, of the p10s %+.1f%%; median of paired ratios %+.1f%% "
              "(IQR %+.1f%% .. %+.1f%%; outside first %+.1f%%, inside first %+.1f%%)\n",
              pct(in / o), pct(percentile(inside, 0.1) / percentile(outside, 0.1)), pct(percentile(ratio, 0.5)),
              pct(percentile(ratio, 0.25)), pct(percentile(ratio, 0.75)), pct(percentile(ratio_by_order[0], 0.5)),
              pct(percentile(ratio_by_order[1], 0.5)));
  std::printf("  CPU (user+sys of the run's processes) p50: outside %.1f ms, inside %.1f ms; "
              "median of paired ratios %+.1f%% (IQR %+.1f%% .. %+.1f%%)\n",
              percentile(outside_cpu, 0.5), percentile(inside_cpu, 0.5), pct(percentile(cpu_ratio, 0.5)),
              pct(percentile(cpu_ratio, 0.25)), pct(percentile(cpu_ratio, 0.75)));
  print_load("after");
  fs::remove_all(workspace);
  return 0;
}
