// Workspace: the repository a session works on. File tools resolve every path through it,
// which refuses anything that would land outside the root (.., absolute paths elsewhere,
// symlinks pointing out).
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>

namespace nagent {

struct PathError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Workspace {
 public:
  explicit Workspace(std::filesystem::path root);  // throws PathError if not a directory
  const std::filesystem::path& root() const { return root_; }
  // Resolves a model-supplied path (relative to the root, or absolute inside it) to an
  // absolute path inside the root with every symlink resolved, the way the kernel would
  // follow it; components that do not exist yet are kept as written. Throws PathError
  // with a message for the model when the result (or a symlink on the way, dangling ones
  // included) lies outside the root. Callers use the returned path, never the input, so
  // later opens traverse no symlink at all.
  std::filesystem::path resolve(const std::string& path) const;
  // The path relative to the root, for display ("." for the root itself).
  std::string relative(const std::filesystem::path& abs) const;

 private:
  std::filesystem::path root_;  // canonical
};

}  // namespace nagent
