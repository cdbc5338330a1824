// Path confinement. resolve() walks the path one component at a time like the kernel's
// lookup (lstat each component, splice symlink targets in, apply ".." to the physical
// directory), tolerating a missing tail, and judges the final physical path. Judging the
// physical path (not the text) is what catches "link/../x", dangling links and chains.
#include "tools/workspace.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <system_error>

namespace nagent {

namespace fs = std::filesystem;

namespace {

constexpr int kMaxSymlinks = 40;  // the kernel's own limit (ELOOP)

bool inside(const fs::path& p, const fs::path& root) {
  auto r = root.begin(), q = p.begin();
  for (; r != root.end(); ++r, ++q) {
    if (q == p.end() || *q != *r) return false;
  }
  return true;
}

void push_components(std::deque<std::string>& queue, const fs::path& p) {
  std::deque<std::string> front;
  for (const auto& c : p.relative_path()) {
    if (!c.empty()) front.push_back(c.string());
  }
  queue.insert(queue.begin(), front.begin(), front.end());
}

}  // namespace

Workspace::Workspace(fs::path root) {
  std::error_code ec;
  root_ = fs::canonical(root, ec);
  if (ec) throw PathError("workspace " + root.string() + ": " + ec.message());
  if (!fs::is_directory(root_)) throw PathError("workspace " + root.string() + " is not a directory");
}

fs::path Workspace::resolve(const std::string& path) const {
  if (path.empty()) throw PathError("empty path");
  if (path.find('\0') != std::string::npos) throw PathError("path contains a NUL byte");

  fs::path input(path);
  fs::path current = input.is_absolute() ? fs::path("/") : root_;
  std::deque<std::string> queue;
  push_components(queue, input);

  int links = 0;
  std::string first_link;  // for the message: which symlink took the path elsewhere
  std::string first_target;
  bool missing = false;    // a component did not exist: the rest is appended as text
  while (!queue.empty()) {
    std::string comp = std::move(queue.front());
    queue.pop_front();
    if (comp == ".") continue;
    if (comp == "..") {
      // current never contains a symlink, so its textual parent is its physical parent.
      current = current.parent_path();
      continue;
    }
    fs::path next = current / comp;
    struct stat st;
    if (missing || ::lstat(next.c_str(), &st) != 0) {
      missing = true;
      current = next;
      continue;
    }
    if (!S_ISLNK(st.st_mode)) {
      current = next;
      continue;
    }
    if (++links > kMaxSymlinks) throw PathError(path + ": too many levels of symbolic links");
    std::string target(st.st_size > 0 ? st.st_size + 1 : 4096, '\0');
    ssize_t n = ::readlink(next.c_str(), target.data(), target.size());
    if (n < 0) throw PathError(path + ": cannot read symlink " + relative(next) + ": " + std::strerror(errno));
    target.resize(n);
    if (first_link.empty()) {
      first_link = inside(next, root_) ? relative(next) : next.string();
      first_target = target;
    }
    fs::path t(target);
    if (t.is_absolute()) current = "/";
    push_components(queue, t);
  }
  current = current.lexically_normal();
  if (current.has_relative_path() && current.filename().empty()) current = current.parent_path();
  if (!inside(current, root_)) {
    std::string msg = "path '" + path + "' ";
    if (!first_link.empty()) {
      msg += "goes through symlink '" + first_link + "' -> '" + first_target + "' and ";
    }
    msg += "resolves to " + current.string() + ", outside the workspace (" + root_.string() +
           "); only files inside it can be used";
    throw PathError(msg);
  }
  return current;
}

std::string Workspace::relative(const fs::path& abs) const {
  fs::path rel = abs.lexically_normal().lexically_relative(root_);
  if (rel.empty()) return abs.string();
  return rel.string();
}

}  // namespace nagent
