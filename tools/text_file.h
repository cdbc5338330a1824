// Whole-file reads and writes the file tools share: binary sniffing, line splitting,
// line-ending detection, and atomic writes that keep the file's mode.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nagent::text_file {

// The whole file. Throws std::runtime_error("cannot read <display>: <reason>").
std::string read(const std::filesystem::path& path, const std::string& display);

// Git's rule: a NUL byte in the first 8 KiB means binary.
bool looks_binary(std::string_view data);

// Lines without their '\n' (a '\r' before it stays). A final newline ends the last line
// rather than starting an empty one; "" has no lines.
std::vector<std::string_view> split_lines(std::string_view text);

// "    12\ttext\n": read_file's numbering (cat -n), which edit and patch messages reuse so
// the model sees one format. A trailing '\r' of the line is not shown.
std::string numbered_line(size_t number, std::string_view text, std::string_view marker = "");

// True when most line breaks are "\r\n" (the file's convention to keep on edits).
bool uses_crlf(std::string_view text);

// Replaces every bare "\n" with "\r\n" (text that already has "\r\n" is left alone).
std::string to_crlf(std::string_view text);

// A file's new content written to a temporary file beside it, put in place by commit()
// with rename(2): readers never see a half-written file, and a symlink at the path is
// replaced, never followed. Staging every file first lets apply_patch fail (disk full,
// permissions) before it has changed anything. An existing file keeps its permission
// bits; `mode` overrides them; a new file gets 0666 & ~umask. Errors throw
// std::runtime_error naming `display`. Destroying an uncommitted StagedFile removes it.
class StagedFile {
 public:
  StagedFile(std::filesystem::path path, std::string_view content, std::string display,
             std::optional<mode_t> mode = std::nullopt);
  ~StagedFile();
  StagedFile(StagedFile&& other) noexcept;
  StagedFile(const StagedFile&) = delete;
  StagedFile& operator=(const StagedFile&) = delete;
  StagedFile& operator=(StagedFile&&) = delete;
  void commit();

 private:
  std::filesystem::path path_, tmp_;
  std::string display_;
};

// StagedFile + commit.
void write_atomic(const std::filesystem::path& path, std::string_view content,
                  const std::string& display, std::optional<mode_t> mode = std::nullopt);

}  // namespace nagent::text_file
