#include "sandbox/cgroup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace nagent::sandbox {

namespace fs = std::filesystem;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// "" on success, else the reason.
std::string write_text(const std::string& path, const std::string& value) {
  std::ofstream out(path);
  if (out) out << value << std::flush;
  if (!out) return path + ": " + std::strerror(errno ? errno : EIO);
  return "";
}

// The value after `key ` in a flat-keyed file (memory.events, memory.oom_control, pids.events).
uint64_t keyed_value(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string k;
  uint64_t v = 0;
  while (in >> k >> v)
    if (k == key) return v;
  return 0;
}

bool has_word(const std::string& list, const std::string& word, char sep) {
  std::istringstream in(list);
  std::string w;
  while (std::getline(in, w, sep))
    if (w == word) return true;
  return false;
}

struct Mounts {
  std::string v2;                                         // mount point of cgroup2, if any
  std::vector<std::pair<std::string, std::string>> v1;   // (mount point, super options)
};

Mounts cgroup_mounts() {
  Mounts m;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream pre(line.substr(0, dash)), post(line.substr(dash + 3));
    std::string id, parent, devno, root, point, fstype, source, options;
    pre >> id >> parent >> devno >> root >> point;
    post >> fstype >> source >> options;
    if (fstype == "cgroup2" && m.v2.empty()) m.v2 = point;
    if (fstype == "cgroup") m.v1.emplace_back(point, options);
  }
  return m;
}

// Our own cgroup path per hierarchy, from /proc/self/cgroup ("" key for v2).
std::string own_path(const std::string& controller) {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    auto a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string names = line.substr(a + 1, b - a - 1);
    if (controller.empty() ? names.empty() : has_word(names, controller, ','))
      return line.substr(b + 1);
  }
  return "";
}

// Removes cgroups left behind by nagent processes that no longer exist.
void remove_stale(const std::string& base) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(base, ec)) {
    std::string name = entry.path().filename().string();
    if (!name.starts_with("nagent-")) continue;
    pid_t pid = static_cast<pid_t>(std::atol(name.c_str() + 7));
    if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) ::rmdir(entry.path().c_str());
  }
}

bool writable_dir(const std::string& dir) { return ::access(dir.c_str(), W_OK) == 0; }

// Whether this process is the only member of the cgroup.
bool only_member_is_us(const std::string& dir) {
  std::istringstream in(read_text(dir + "/cgroup.procs"));
  pid_t pid = 0;
  int count = 0;
  bool us = false;
  while (in >> pid) {
    ++count;
    us = us || pid == ::getpid();
  }
  return us && count == 1;
}

}  // namespace

std::unique_ptr<CgroupPool> CgroupPool::open(const Limits& limits, std::string* why) {
  std::vector<std::string> needed;
  if (limits.memory_mb) needed.push_back("memory");
  if (limits.processes) needed.push_back("pids");
  if (limits.cpu_percent) needed.push_back("cpu");
  if (needed.empty()) {
    *why = "the policy sets no memory, processes or cpu_percent limit";
    return nullptr;
  }
  Mounts mounts = cgroup_mounts();
  std::string v2_problem = "no cgroup2 mount";

  // cgroup v2: our cgroup must offer the controllers and let us enable them for children.
  if (!mounts.v2.empty()) {
    std::string dir = mounts.v2 + own_path("");
    std::string offered = read_text(dir + "/cgroup.controllers");
    std::string missing;
    for (const auto& c : needed)
      if (!has_word(offered.substr(0, offered.find('\n')), c, ' ')) missing += (missing.empty() ? "" : ", ") + c;
    if (!missing.empty()) {
      v2_problem = "cgroup v2 at " + dir + " does not offer " + missing;
    } else if (!writable_dir(dir)) {
      v2_problem = "cgroup v2 at " + dir + " is not delegated to this user";
    } else {
      std::string enable;
      for (const auto& c : needed) enable += "+" + c + " ";
      std::string err = write_text(dir + "/cgroup.subtree_control", enable);
      if (!err.empty() && err.find(std::strerror(EBUSY)) != std::string::npos && only_member_is_us(dir)) {
        // cgroup v2 lets a cgroup give controllers to children only while it has no
        // member processes: nagent moves itself into a leaf of its own first.
        std::string self_leaf = dir + "/nagent-" + std::to_string(::getpid()) + "-self";
        if ((::mkdir(self_leaf.c_str(), 0755) == 0 || errno == EEXIST) &&
            write_text(self_leaf + "/cgroup.procs", std::to_string(::getpid())).empty())
          err = write_text(dir + "/cgroup.subtree_control", enable);
      }
      if (err.empty()) {
        remove_stale(dir);
        return std::unique_ptr<CgroupPool>(new CgroupPool(true, {{"", dir}}, limits));
      }
      v2_problem = "cannot enable " + enable + "for children of cgroup v2 " + dir + " (" + err +
                   "; other processes share nagent's cgroup: start nagent in a cgroup of its own, "
                   "e.g. systemd-run --scope -p Delegate=yes nagent ...)";
    }
  }

  // cgroup v1: one hierarchy per controller, each writable.
  std::vector<Controller> controllers;
  std::string v1_problem;
  for (const auto& c : needed) {
    std::string point;
    for (const auto& [p, options] : mounts.v1)
      if (has_word(options, c, ',')) point = p;
    std::string dir = point.empty() ? "" : point + own_path(c);
    if (point.empty()) v1_problem += (v1_problem.empty() ? "" : "; ") + ("no cgroup v1 " + c + " hierarchy");
    else if (!writable_dir(dir)) v1_problem += (v1_problem.empty() ? "" : "; ") + ("cgroup v1 " + dir + " is not writable");
    else controllers.push_back({c, dir});
  }
  if (v1_problem.empty()) {
    for (const auto& c : controllers) remove_stale(c.base);
    return std::unique_ptr<CgroupPool>(new CgroupPool(false, controllers, limits));
  }
  *why = v2_problem + "; " + v1_problem;
  return nullptr;
}

CgroupPool::CgroupPool(bool v2, std::vector<Controller> controllers, const Limits& limits)
    : v2_(v2), controllers_(std::move(controllers)), limits_(limits) {
  static std::atomic<int> counter{0};
  prefix_ = "nagent-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-";
  describe_ = v2_ ? "cgroup v2 " + controllers_[0].base : "cgroup v1";
  if (!v2_)
    for (const auto& c : controllers_) describe_ += " " + c.base;
  // The first cgroup is made now, so a host that refuses it fails at runner creation.
  slots_.push_back(make_slot(0));
}

CgroupPool::~CgroupPool() {
  for (const auto& slot : slots_) {
    if (slot.dir_fd >= 0) ::close(slot.dir_fd);
    for (const auto& dir : slot.dirs) ::rmdir(dir.c_str());
  }
}

CgroupPool::Slot CgroupPool::make_slot(int index) {
  Slot slot;
  const uint64_t mib = 1024 * 1024;
  for (const auto& c : controllers_) {
    std::string dir = c.base + "/" + prefix_ + std::to_string(index);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
      throw SandboxError("cgroup: mkdir " + dir + ": " + std::strerror(errno));
    slot.dirs.push_back(dir);
    slot.join_files.push_back(dir + (v2_ ? "/cgroup.procs" : "/tasks"));
    std::vector<std::pair<std::string, std::string>> settings;
    bool all = c.name.empty();  // v2: every controller in one directory
    if ((all || c.name == "memory") && limits_.memory_mb) {
      std::string bytes = std::to_string(limits_.memory_mb * mib);
      if (v2_) {
        settings.push_back({"memory.max", bytes});
        settings.push_back({"memory.swap.max", "0"});
      } else {
        settings.push_back({"memory.limit_in_bytes", bytes});
        if (fs::exists(dir + "/memory.memsw.limit_in_bytes"))
          settings.push_back({"memory.memsw.limit_in_bytes", bytes});  // no swapping past the limit
      }
    }
    if ((all || c.name == "pids") && limits_.processes)
      settings.push_back({"pids.max", std::to_string(limits_.processes)});
    if ((all || c.name == "cpu") && limits_.cpu_percent) {
      std::string quota = std::to_string(limits_.cpu_percent * 1000);
      if (v2_) {
        settings.push_back({"cpu.max", quota + " 100000"});
      } else {
        settings.push_back({"cpu.cfs_period_us", "100000"});
        settings.push_back({"cpu.cfs_quota_us", quota});
      }
    }
    for (const auto& [file, value] : settings) {
      std::string err = write_text(dir + "/" + file, value);
      if (!err.empty()) throw SandboxError("cgroup: cannot set " + err);
    }
    if (v2_) {
      slot.dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (slot.dir_fd < 0) throw SandboxError("cgroup: open " + dir + ": " + std::strerror(errno));
    }
  }
  return slot;
}

uint64_t CgroupPool::oom_kills(const Slot& slot) const {
  for (size_t i = 0; i < controllers_.size(); ++i) {
    if (v2_) return keyed_value(read_text(slot.dirs[i] + "/memory.events"), "oom_kill");
    if (controllers_[i].name == "memory") return keyed_value(read_text(slot.dirs[i] + "/memory.oom_control"), "oom_kill");
  }
  return 0;
}

uint64_t CgroupPool::pids_refused(const Slot& slot) const {
  for (size_t i = 0; i < controllers_.size(); ++i)
    if (v2_ || controllers_[i].name == "pids") return keyed_value(read_text(slot.dirs[i] + "/pids.events"), "max");
  return 0;
}

CgroupPool::Lease CgroupPool::acquire() {
  std::lock_guard lock(mutex_);
  size_t i = 0;
  while (i < slots_.size() && slots_[i].busy) ++i;
  if (i == slots_.size()) slots_.push_back(make_slot(static_cast<int>(i)));
  Slot& slot = slots_[i];
  slot.busy = true;
  slot.oom_kills = limits_.memory_mb ? oom_kills(slot) : 0;
  slot.pids_refused = limits_.processes ? pids_refused(slot) : 0;
  if (v2_) return {static_cast<int>(i), slot.dir_fd, nullptr};
  return {static_cast<int>(i), -1, &slot.join_files};
}

std::string CgroupPool::release(const Lease& lease) {
  std::lock_guard lock(mutex_);
  Slot& slot = slots_.at(static_cast<size_t>(lease.slot));
  std::string notes;
  if (limits_.memory_mb && oom_kills(slot) > slot.oom_kills)
    notes += "out of memory: the run reached its memory limit (" + std::to_string(limits_.memory_mb) +
             " MiB, limits.memory_mb) and the kernel killed a process. ";
  if (limits_.processes) {
    uint64_t refused = pids_refused(slot) - slot.pids_refused;
    if (refused)
      notes += "process limit: " + std::to_string(refused) + " fork/clone calls were refused at " +
               std::to_string(limits_.processes) + " processes (limits.processes). ";
  }
  slot.busy = false;
  if (!notes.empty()) notes.pop_back();
  return notes;
}

}  // namespace nagent::sandbox
