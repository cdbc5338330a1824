// Test helpers: temporary directories that clean up after themselves, and fresh git
// repositories made from the examples/ folder.
#pragma once

#include <filesystem>
#include <string>

class TempDir {
 public:
  explicit TempDir(const std::string& tag = "dir");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// Copies examples/<name> into dir and commits it as the first commit of a new git repo.
void make_example_repo(const std::string& name, const std::filesystem::path& dir);

std::string read_text(const std::filesystem::path& path);
void write_text(const std::filesystem::path& path, const std::string& text);
