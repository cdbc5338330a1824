#include "engine/incremental_prompt.h"

namespace nagent {
namespace {

const std::string& system_of(const std::vector<Message>& m) {
  static const std::string none;
  return !m.empty() && m[0].role == "system" ? m[0].content : none;
}

size_t size_of(const Message& m) {
  size_t n = m.content.size() + m.reasoning.size();
  for (const auto& c : m.tool_calls) n += c.name.size() + c.arguments.size() + 1;
  return n;
}

}  // namespace

bool IncrementalPrompt::holds(const ChatRequest& request, long last_user, const ChatTemplateOptions& options) const {
  const auto& m = request.messages;
  const size_t kept = kept_sizes_.size();
  if (kept_.empty() || last_user != last_user_ || request.stable_prefix_messages < kept || m.size() < kept) return false;
  if (options.enable_thinking != options_.enable_thinking ||
      options.truncate_history_thinking != options_.truncate_history_thinking || options.low_effort != options_.low_effort)
    return false;
  // The header (system turn) is kept even before any message is: compare it outright, so that
  // another conversation's first turn is not rendered under this one's system prompt.
  if (system_of(m) != system_) return false;
  for (size_t i = 0; i < kept; ++i)
    if (size_of(m[i]) != kept_sizes_[i]) return false;
  return request.tools.dump() == tools_;
}

const std::string& IncrementalPrompt::render(const ChatRequest& request) {
  const auto& m = request.messages;
  const ChatTemplateOptions options = ChatTemplateOptions::from_request(request);
  const long last_user = nemotron3_last_user(m);
  if (!holds(request, last_user, options)) {
    kept_.clear();
    kept_sizes_.clear();
    render_nemotron3_header(kept_, m, request.tools);
    last_user_ = last_user;
    tools_ = request.tools.dump();
    system_ = system_of(m);
    options_ = options;
  }
  reused_ = kept_.size();
  size_t end = m.size();
  while (end > kept_sizes_.size() && m[end - 1].role != "assistant") --end;
  render_nemotron3_messages(kept_, m, kept_sizes_.size(), end, last_user, options);
  for (size_t i = kept_sizes_.size(); i < end; ++i) kept_sizes_.push_back(size_of(m[i]));
  prompt_.assign(kept_);
  render_nemotron3_messages(prompt_, m, end, m.size(), last_user, options);
  render_nemotron3_generation_prompt(prompt_, options);
  return prompt_;
}

}  // namespace nagent
