// The filesystem a sandboxed program sees: a fresh tmpfs root holding read-only binds of
// the system directories and policy paths, the workspace (rw or ro, its .git ro unless
// allowed), a private /tmp, a minimal /dev and a fresh read-only /proc; nothing else of
// the host. Planned once per runner in the parent (host paths stat'ed, symlinks read);
// entered in each child with mount syscalls only.
#pragma once

#include <string>
#include <vector>

#include "sandbox/child_report.h"
#include "sandbox/policy.h"

namespace nagent::sandbox {

class FilesystemView {
 public:
  // Throws SandboxError for a missing non-optional bind.
  FilesystemView(const Policy& policy, const std::string& workspace);

  // PATH inside: the host PATH entries visible in the view, then the standard ones.
  const std::string& inside_path() const { return inside_path_; }
  // One line per mount, for `nagent sandbox --verbose` and Runner::describe().
  std::string describe() const;

  // Child side (async-signal-safe; the caller is in fresh mount and PID namespaces and
  // still sees the host's tree): builds the view and makes it the root. Returns false
  // after sending a report.
  bool enter(const ReportTo& report) const noexcept;

 private:
  struct Op {
    enum Kind { kDir, kFile, kWriteFile, kSymlink, kBind, kTmpfs, kProc, kGitReadOnly } kind;
    std::string target;  // path in the new root
    std::string source;  // kBind: host path under the old root; kSymlink: link text;
                         // kTmpfs: mount options; kWriteFile: the content
  };
  void add_parents(const std::string& path);
  void add_bind(const std::string& path, bool is_dir, bool writable);
  void add_tmpfs(const std::string& path, const std::string& options, bool writable);

  std::vector<Op> ops_;
  std::vector<std::string> made_dirs_;   // mountpoint directories already planned
  std::vector<std::string> writable_;    // mounts (under the new root) left writable
  bool has_dev_ = false;                 // the view has the minimal /dev (its device binds)
  std::vector<std::string> describe_;
  std::string inside_path_;
};

}  // namespace nagent::sandbox
