#include "agent/context/token_counter.h"

#include <algorithm>
#include <cmath>

namespace nagent {
namespace {

// Template framing of one message ("<|im_start|>role\n", "<|im_end|>\n", tool-call tags).
constexpr size_t kFramingChars = 16;

std::string text_of(const Message& m) {
  std::string s = m.reasoning + m.content;
  for (const auto& c : m.tool_calls) s += c.name + c.arguments.dump();
  return s;
}

}  // namespace

TokenCounter::TokenCounter(const Backend* exact) : backend_(exact) {
  exact_ = backend_ && backend_->count_tokens("x").has_value();
}

size_t TokenCounter::chars_of(const Message& m) {
  size_t n = m.content.size() + m.reasoning.size() + kFramingChars;
  for (const auto& c : m.tool_calls) n += c.name.size() + c.arguments.dump().size() + kFramingChars;
  return n;
}

int64_t TokenCounter::count_text(const std::string& text) const {
  if (exact_) return *backend_->count_tokens(text);
  return int64_t(std::ceil(double(text.size()) / chars_per_token_));
}

int64_t TokenCounter::count(const Message& m) const {
  if (exact_) return *backend_->count_tokens(text_of(m)) + 5;  // + the framing tokens
  return int64_t(std::ceil(double(chars_of(m)) / chars_per_token_));
}

int64_t TokenCounter::recount(int64_t measured, const Message& before, const Message& after) const {
  return std::max<int64_t>(1, measured + count(after) - count(before));
}

void TokenCounter::calibrate(size_t chars, int64_t tokens) {
  if (tokens <= 0 || chars == 0) return;
  chars_per_token_ = std::clamp(double(chars) / double(tokens), 1.0, 8.0);
}

}  // namespace nagent
