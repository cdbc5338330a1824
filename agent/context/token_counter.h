// TokenCounter: how many tokens a message takes. Exact where the backend has the model's
// tokenizer (the embedded engine); otherwise characters / chars-per-token, an estimate that
// starts conservative and is calibrated from the first prompt size a server reports in its
// `usage`. (Conversation then takes the exact prompt sizes the server reports turn by turn;
// this counter only sizes what no reply has measured yet.)
#pragma once

#include <cstdint>
#include <string>

#include "engine/backend.h"

namespace nagent {

class TokenCounter {
 public:
  // exact: a backend whose count_tokens() answers (may be null).
  explicit TokenCounter(const Backend* exact = nullptr);

  int64_t count(const Message& m) const;
  int64_t count_text(const std::string& text) const;
  // The characters a message contributes to a prompt (content, reasoning, calls, framing).
  static size_t chars_of(const Message& m);

  // A message's count after a change (a compaction dropped its reasoning or elided its
  // output): the measured count moved by the estimated difference, so what a measurement
  // learned about it (framing, wire overhead) stays.
  int64_t recount(int64_t measured, const Message& before, const Message& after) const;

  // A reported prompt: `chars` characters were `tokens` tokens.
  void calibrate(size_t chars, int64_t tokens);
  double chars_per_token() const { return chars_per_token_; }
  bool exact() const { return exact_; }

 private:
  const Backend* backend_;
  bool exact_ = false;
  // Before any report: below the ~3.5-4 of English and code, so the estimate errs high.
  double chars_per_token_ = 3.0;
};

}  // namespace nagent
