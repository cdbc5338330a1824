// A PCRE2 pattern compiled once (JIT when available) and matched over whole buffers:
// search runs it over each file's bytes instead of line by line.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace nagent {

struct RegexError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Regex {
 public:
  // Multiline (^ and $ at line boundaries), UTF-8 aware, tolerant of invalid UTF-8 in
  // the subject. Throws RegexError "invalid regex at position N: <reason>" with a caret
  // line under the pattern.
  explicit Regex(const std::string& pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // First match in subject at or after offset: its start, or npos. Throws RegexError when
  // matching fails for a reason other than no match (e.g. backtracking limit).
  size_t find(std::string_view subject, size_t offset);  // uses the match data: one thread
  bool jit() const { return jit_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  bool jit_ = false;
};

}  // namespace nagent
