#define PCRE2_CODE_UNIT_WIDTH 8
#include "tools/regex.h"

#include <pcre2.h>

namespace nagent {

struct Regex::Impl {
  pcre2_code* code = nullptr;
  pcre2_match_data* data = nullptr;
  pcre2_match_context* mctx = nullptr;
  pcre2_jit_stack* stack = nullptr;
};

namespace {

std::string message(int code) {
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(code, buf, sizeof buf);
  return reinterpret_cast<const char*>(buf);
}

}  // namespace

Regex::Regex(const std::string& pattern) : impl_(std::make_unique<Impl>()) {
  int err = 0;
  PCRE2_SIZE offset = 0;
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                              PCRE2_MULTILINE | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &err, &offset, nullptr);
  if (!impl_->code) {
    std::string caret = "  " + pattern + "\n  " + std::string(offset, ' ') + "^";
    throw RegexError("invalid regex at position " + std::to_string(offset) + ": " + message(err) + "\n" + caret);
  }
  jit_ = pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE) == 0;
  impl_->data = pcre2_match_data_create_from_pattern(impl_->code, nullptr);
  impl_->mctx = pcre2_match_context_create(nullptr);
  if (jit_) {
    // The default 32 KiB JIT stack is too small for some patterns over long lines.
    impl_->stack = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, nullptr);
    pcre2_jit_stack_assign(impl_->mctx, nullptr, impl_->stack);
  }
}

Regex::~Regex() {
  if (impl_->stack) pcre2_jit_stack_free(impl_->stack);
  if (impl_->mctx) pcre2_match_context_free(impl_->mctx);
  if (impl_->data) pcre2_match_data_free(impl_->data);
  if (impl_->code) pcre2_code_free(impl_->code);
}

size_t Regex::find(std::string_view subject, size_t offset) {
  auto* s = reinterpret_cast<PCRE2_SPTR>(subject.data());
  int rc = jit_ ? pcre2_jit_match(impl_->code, s, subject.size(), offset, 0, impl_->data, impl_->mctx)
                : pcre2_match(impl_->code, s, subject.size(), offset, 0, impl_->data, impl_->mctx);
  if (rc == PCRE2_ERROR_NOMATCH) return std::string_view::npos;
  if (rc < 0) throw RegexError("regex matching failed: " + message(rc));
  return pcre2_get_ovector_pointer(impl_->data)[0];
}

}  // namespace nagent
