#include "sandbox/filesystem_view.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "sandbox/environment.h"

namespace nagent::sandbox {

namespace fs = std::filesystem;

namespace {

// A scratch tmpfs becomes the root and the host's root is moved under it here, so binds
// read host paths even where the new tree covers them (a workspace under /tmp, below the
// private /tmp); once the tree is built this is detached and removed.
constexpr const char* kOldRoot = "/oldroot";

// Read-only files up to this size are copied into the root instead of bound: a write is
// cheaper than a mount to make and to tear down.
constexpr uintmax_t kCopyFileMax = 256 * 1024;

const char* const kDevices[] = {"null", "zero", "full", "random", "urandom", "tty"};

bool under(const std::string& path, const std::string& dir) {
  return path == dir || dir == "/" || (path.starts_with(dir) && path[dir.size()] == '/');
}

size_t depth(const std::string& path) { return std::count(path.begin(), path.end(), '/'); }

// The directory to bind for a host PATH entry outside the system directories: a
// toolchain's bin/ or shims/ lives beside the rest of the toolchain (lib/, versions/),
// so its parent is bound, except where the parent is the home directory itself.
std::string toolchain_root(const std::string& entry) {
  fs::path p(entry);
  std::string name = p.filename().string();
  if (name != "bin" && name != "shims") return entry;
  std::string parent = p.parent_path().string();
  const char* home = std::getenv("HOME");
  if (parent == "/" || (home && (parent == home || parent == std::string(home) + "/.local"))) return entry;
  return parent;
}

int mount_setattr_call(const char* path, unsigned flags, uint64_t set, uint64_t clear) {
  mount_attr attr{};
  attr.attr_set = set;
  attr.attr_clr = clear;
  return static_cast<int>(::syscall(SYS_mount_setattr, AT_FDCWD, path, flags, &attr, sizeof attr));
}

}  // namespace

void FilesystemView::add_parents(const std::string& path) {
  fs::path p(path);
  std::vector<std::string> missing;
  for (fs::path dir = p.parent_path(); dir != "/" && !dir.empty(); dir = dir.parent_path()) {
    std::string d = dir.string();
    if (std::find(made_dirs_.begin(), made_dirs_.end(), d) != made_dirs_.end()) break;
    missing.push_back(d);
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    ops_.push_back({Op::kDir, *it, ""});
    made_dirs_.push_back(*it);
  }
}

void FilesystemView::add_bind(const std::string& path, bool is_dir, bool writable) {
  add_parents(path);
  if (!is_dir && !writable) {
    std::error_code ec;
    auto size = fs::file_size(path, ec);
    std::ifstream in(path, std::ios::binary);
    if (!ec && size <= kCopyFileMax && in) {
      std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      ops_.push_back({Op::kWriteFile, path, std::move(content)});
      return;
    }
  }
  ops_.push_back({is_dir ? Op::kDir : Op::kFile, path, ""});
  if (is_dir) made_dirs_.push_back(path);
  ops_.push_back({Op::kBind, path, kOldRoot + path});
  if (writable) writable_.push_back(path);
}

void FilesystemView::add_tmpfs(const std::string& path, const std::string& options, bool writable) {
  add_parents(path);
  ops_.push_back({Op::kDir, path, ""});
  made_dirs_.push_back(path);
  ops_.push_back({Op::kTmpfs, path, options});
  if (writable) writable_.push_back(path);
}

FilesystemView::FilesystemView(const Policy& policy, const std::string& workspace) {
  for (const char* reserved : {"/", "/proc", "/dev"})
    if (workspace == reserved)
      throw SandboxError("workspace " + workspace + " cannot be sandboxed (it would expose the host); use a project directory");
  // Everything that becomes a mount, sorted parents-first below.
  struct Entry {
    enum Kind { kBind, kSymlink, kTmp, kDev, kProc } kind;
    std::string path;
    bool writable = false;
    bool is_dir = true;
    std::string link;
  };
  std::vector<Entry> entries;
  std::vector<Bind> binds = policy.binds;

  const char* host_path_env = std::getenv("PATH");
  std::string host_path = host_path_env ? host_path_env : "";
  std::vector<std::string> path_entries;
  for (const auto& e : split_path_list(host_path))
    if (!e.empty() && e[0] == '/' && std::find(path_entries.begin(), path_entries.end(), e) == path_entries.end())
      path_entries.push_back(e);
  if (policy.toolchains) {
    for (const auto& e : path_entries) {
      if (under(e, "/usr") || under(e, "/bin") || under(e, "/sbin")) continue;
      binds.push_back({toolchain_root(e), false, true});
      // A venv's python3 or a shim's target often lives elsewhere (uv, pyenv, nvm keep
      // interpreters in their own trees): those trees are bound too.
      std::error_code ec;
      for (const auto& item : fs::directory_iterator(e, ec)) {
        if (!item.is_symlink(ec)) continue;
        fs::path real = fs::canonical(item.path(), ec);
        if (!ec) binds.push_back({toolchain_root(real.parent_path().string()), false, true});
      }
    }
  }

  auto covered = [&](const std::string& path, bool writable) {
    for (const auto& e : entries)
      if ((e.kind == Entry::kBind || e.kind == Entry::kTmp) && e.writable == writable && under(path, e.path))
        return true;
    return false;
  };
  auto add_host_path = [&](auto& self, const std::string& path, bool writable, bool optional,
                           int hops) -> void {
    if (covered(path, writable)) return;
    for (const auto& e : entries)
      if (e.path == path) return;  // already listed (a symlink named twice)
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) {
      if (optional) return;
      throw SandboxError("policy " + policy.source + ": bind " + path +
                         ": does not exist on this host (add optional = true to skip it)");
    }
    if (S_ISLNK(st.st_mode)) {
      // Recreated as the same symlink (merged /usr: /bin -> usr/bin), and its target bound
      // too so it resolves inside.
      std::error_code ec;
      fs::path target = fs::read_symlink(path, ec);
      entries.push_back({Entry::kSymlink, path, false, false, target.string()});
      fs::path real = fs::canonical(path, ec);
      if (!ec && hops < 8) self(self, real.string(), writable, true, hops + 1);
      return;
    }
    entries.push_back({Entry::kBind, path, writable, S_ISDIR(st.st_mode), ""});
  };
  for (const auto& b : binds) add_host_path(add_host_path, b.path, b.writable, b.optional, 0);
  entries.push_back({Entry::kBind, workspace, policy.workspace_writable, true, ""});
  if (workspace != "/tmp") entries.push_back({Entry::kTmp, "/tmp", true, true, ""});  // else /tmp is the workspace
  entries.push_back({Entry::kDev, "/dev", false, true, ""});
  entries.push_back({Entry::kProc, "/proc", false, true, ""});
  // A bind inside another bind of the same mode adds nothing (a toolchain found under
  // a directory already bound, /usr/local/cuda under /usr).
  std::vector<Entry> kept;
  for (const auto& e : entries) {
    bool redundant = false;
    for (const auto& other : entries)
      if (&other != &e && other.kind == Entry::kBind && e.kind == Entry::kBind && other.writable == e.writable &&
          other.path != e.path && under(e.path, other.path))
        redundant = true;
    if (!redundant) kept.push_back(e);
  }
  entries = std::move(kept);
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) { return depth(a.path) < depth(b.path); });

  std::string tmp_options = "mode=1777,size=" + std::to_string(policy.tmp_size_mb) + "m";
  for (const auto& e : entries) {
    switch (e.kind) {
      case Entry::kBind:
        add_bind(e.path, e.is_dir, e.writable);
        describe_.push_back((e.writable ? "rw    " : "ro    ") + e.path);
        break;
      case Entry::kSymlink:
        add_parents(e.path);
        ops_.push_back({Op::kSymlink, e.path, e.link});
        describe_.push_back("link  " + e.path + " -> " + e.link);
        break;
      case Entry::kTmp:
        add_tmpfs(e.path, tmp_options, true);
        describe_.push_back("tmpfs " + e.path + " (private, " + std::to_string(policy.tmp_size_mb) + " MiB)");
        break;
      case Entry::kDev:
        has_dev_ = true;
        add_tmpfs("/dev", "mode=0755,size=64k", false);
        for (const char* dev : kDevices) add_bind(std::string("/dev/") + dev, false, true);
        add_tmpfs("/dev/shm", "mode=1777,size=" + std::to_string(std::min<uint64_t>(policy.tmp_size_mb, 256)) + "m", true);
        for (auto [name, link] : {std::pair{"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"},
                                  {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"}})
          ops_.push_back({Op::kSymlink, std::string("/dev/") + name, link});
        describe_.push_back("dev   /dev (null zero full random urandom tty, shm)");
        break;
      case Entry::kProc:
        add_parents("/proc");
        ops_.push_back({Op::kDir, "/proc", ""});
        ops_.push_back({Op::kProc, "/proc", ""});
        describe_.push_back("proc  /proc (this sandbox's processes only, read-only)");
        break;
    }
  }
  if (!policy.git_writable) {
    ops_.push_back({Op::kGitReadOnly, workspace + "/.git", ""});
    describe_.push_back("ro    " + workspace + "/.git (when present)");
  }

  // PATH inside: the host's entries that the view shows, then the standard directories.
  std::vector<std::string> inside;
  auto visible = [&](const std::string& dir) {
    for (const auto& e : entries)
      if ((e.kind == Entry::kBind && under(dir, e.path)) || (e.kind == Entry::kSymlink && dir == e.path))
        return true;
    return false;
  };
  for (const auto& e : path_entries)
    if (visible(e)) inside.push_back(e);
  for (const auto& e : split_path_list(kDefaultPath))
    if (std::find(inside.begin(), inside.end(), e) == inside.end()) inside.push_back(e);
  for (const auto& e : inside) inside_path_ += (inside_path_.empty() ? "" : ":") + e;
}

std::string FilesystemView::describe() const {
  std::string out;
  for (const auto& line : describe_) out += line + "\n";
  return out;
}

bool FilesystemView::enter(const ReportTo& report) const noexcept {
  // Nothing done here may propagate back to the host's mounts.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return report.fail("make / private");
  // The new root: a tmpfs (mounted on /tmp only to have somewhere to mount it), made the
  // root with the host's root moved below it.
  if (::mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") != 0)
    return report.fail("mount root tmpfs", "/tmp");
  if (::chdir("/tmp") != 0 || ::mkdir(kOldRoot + 1, 0755) != 0) return report.fail("prepare the root", "/tmp");
  if (::syscall(SYS_pivot_root, ".", kOldRoot + 1) != 0) return report.fail("pivot_root", "/tmp");
  if (::chdir("/") != 0) return report.fail("chdir", "/");

  for (const Op& op : ops_) {
    const char* target = op.target.c_str();
    struct stat st;
    switch (op.kind) {
      case Op::kDir:
        // Mountpoints below an existing bind already exist (the bind shows the host's
        // directory at the same path), so nothing is ever created on the host.
        if (::mkdir(target, 0755) != 0 && errno != EEXIST) return report.fail("mkdir", target);
        break;
      case Op::kFile:
        if (::lstat(target, &st) != 0) {
          int fd = ::open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
          if (fd < 0) return report.fail("create mountpoint", target);
          ::close(fd);
        }
        break;
      case Op::kWriteFile: {
        int fd = ::open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0) return report.fail("create", target);
        bool ok = ::write(fd, op.source.data(), op.source.size()) == static_cast<ssize_t>(op.source.size());
        ::close(fd);
        if (!ok) return report.fail("write", target);
        break;
      }
      case Op::kSymlink:
        if (::symlink(op.source.c_str(), target) != 0 && errno != EEXIST) return report.fail("symlink", target);
        break;
      case Op::kBind:
        if (::mount(op.source.c_str(), target, nullptr, MS_BIND | MS_REC, nullptr) != 0)
          return report.fail("bind", target);
        break;
      case Op::kTmpfs:
        if (::mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, op.source.c_str()) != 0)
          return report.fail("mount tmpfs", target);
        break;
      case Op::kProc:
        if (::mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
          return report.fail("mount proc", target);
        break;
      case Op::kGitReadOnly:
        // Only a real directory or gitdir file; a symlink named .git is left alone (its
        // target is whatever the view shows there, nothing of the host's).
        if (::lstat(target, &st) == 0 && (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))) {
          if (::mount(target, target, nullptr, MS_BIND | MS_REC, nullptr) != 0)
            return report.fail("bind .git", target);
        }
        break;
    }
  }

  // The host's root goes: nothing below / refers to it any more.
  if (::umount2(kOldRoot, MNT_DETACH) != 0 || ::rmdir(kOldRoot) != 0) return report.fail("detach the host root");
  // Everything read-only, no setuid, no devices; then the writable places opened again
  // (only the mount itself, so a read-only .git inside the workspace stays read-only) and
  // the device nodes of the minimal /dev allowed, each bind alone: /dev and /dev/shm stay
  // nodev, so a device node that appeared there could not be opened.
  if (mount_setattr_call("/", AT_RECURSIVE, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, 0) != 0)
    return report.fail("make the tree read-only", "/");
  for (const auto& w : writable_)
    if (mount_setattr_call(w.c_str(), 0, 0, MOUNT_ATTR_RDONLY) != 0) return report.fail("make writable", w.c_str());
  if (has_dev_)
    for (const char* dev : kDevices) {
      const std::string path = std::string("/dev/") + dev;
      if (mount_setattr_call(path.c_str(), 0, 0, MOUNT_ATTR_NODEV) != 0) return report.fail("allow device", path.c_str());
    }
  return true;
}

}  // namespace nagent::sandbox
