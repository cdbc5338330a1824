// A compiled Split pattern from tokenizer.json. Hugging Face tokenizers runs these with
// Oniguruma; we run them with PCRE2 (UTF + UCP, JIT), rewriting \s and \S to Oniguruma's
// set (the Unicode White_Space property: PCRE2's \s also takes U+180E).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace nagent::tok {

class Regex {
 public:
  explicit Regex(const std::string& pattern);  // throws std::runtime_error on a bad pattern
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Calls on_match(start, end) for each successive non-overlapping match in valid UTF-8
  // text (byte offsets). An empty match is skipped and the search moves one character on.
  void for_each_match(std::string_view text, const std::function<void(size_t, size_t)>& on_match) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A pattern as tokenizer.json writes it: {"String": "..."} (matched verbatim) or
// {"Regex": "..."}.
class Pattern {
 public:
  static Pattern from_json(const nlohmann::json& j);  // throws naming what is wrong
  void for_each_match(std::string_view text, const std::function<void(size_t, size_t)>& on_match) const;

 private:
  std::string literal_;
  std::shared_ptr<const Regex> regex_;
};

}  // namespace nagent::tok
