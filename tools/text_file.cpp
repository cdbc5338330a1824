#include "tools/text_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <stdexcept>

namespace nagent::text_file {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const std::string& what, const std::string& display) {
  throw std::runtime_error(what + " " + display + ": " + std::strerror(errno));
}

}  // namespace

std::string read(const fs::path& path, const std::string& display) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot read", display);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    errno = e;
    fail("cannot read", display);
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw std::runtime_error(display + " is a directory");
  }
  std::string data;
  if (st.st_size > 0) data.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      errno = e;
      fail("cannot read", display);
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return data;
}

bool looks_binary(std::string_view data) {
  return data.substr(0, 8192).find('\0') != std::string_view::npos;
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) {
      lines.push_back(text.substr(pos));
      break;
    }
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

std::string numbered_line(size_t number, std::string_view text, std::string_view marker) {
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  char num[32];
  int n = std::snprintf(num, sizeof num, "%6zu\t", number);
  std::string out(marker);
  out.append(num, static_cast<size_t>(n));
  out.append(text);
  out += '\n';
  return out;
}

bool uses_crlf(std::string_view text) {
  size_t crlf = 0, lf = 0;
  for (size_t i = text.find('\n'); i != std::string_view::npos; i = text.find('\n', i + 1)) {
    ++lf;
    if (i > 0 && text[i - 1] == '\r') ++crlf;
  }
  return crlf > 0 && crlf * 2 >= lf;
}

std::string to_crlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) out += '\r';
    out += text[i];
  }
  return out;
}

StagedFile::StagedFile(fs::path path, std::string_view content, std::string display,
                       std::optional<mode_t> mode)
    : path_(std::move(path)), display_(std::move(display)) {
  struct stat st;
  if (::stat(path_.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) throw std::runtime_error(display_ + " is a directory");
    if (!mode) mode = st.st_mode & 07777;
  }
  std::random_device rd;
  int fd = -1;
  for (int attempt = 0; fd < 0 && attempt < 16; ++attempt) {
    std::string tmp_name(".");  // hidden, and named after the file it will become
    tmp_name += path_.filename().string();
    tmp_name += ".nagent-";
    tmp_name += std::to_string(rd());
    tmp_ = path_.parent_path() / tmp_name;
    fd = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) fail("cannot write", display_);
  }
  if (fd < 0) fail("cannot write", display_);
  auto abandon = [&](const char* what) {
    int e = errno;
    ::close(fd);
    ::unlink(tmp_.c_str());
    errno = e;
    fail(what, display_);
  };
  if (mode && ::fchmod(fd, *mode) != 0) abandon("cannot set the mode of");
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      abandon("cannot write");
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) {
    int e = errno;
    ::unlink(tmp_.c_str());
    errno = e;
    fail("cannot write", display_);
  }
}

StagedFile::StagedFile(StagedFile&& other) noexcept
    : path_(std::move(other.path_)), tmp_(std::move(other.tmp_)), display_(std::move(other.display_)) {
  other.tmp_.clear();
}

StagedFile::~StagedFile() {
  if (!tmp_.empty()) ::unlink(tmp_.c_str());
}

void StagedFile::commit() {
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) fail("cannot write", display_);
  tmp_.clear();
}

void write_atomic(const fs::path& path, std::string_view content, const std::string& display,
                  std::optional<mode_t> mode) {
  StagedFile(path, content, display, mode).commit();
}

}  // namespace nagent::text_file
