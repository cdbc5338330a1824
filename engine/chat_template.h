// Native renderer of the Nemotron 3 chat template: turns a ChatRequest into the prompt text
// the model was trained on, byte-identical to transformers' apply_chat_template with the
// Jinja template (algorithm: shared/reference/nemotronh.md section 2.2; checked against
// scripts/chat_template_reference/ renderings in tests/fixtures/chat_template/).
#pragma once

#include <string>
#include <vector>

#include "engine/chat.h"

namespace nagent {

struct ChatTemplateOptions {
  bool add_generation_prompt = true;
  bool enable_thinking = true;            // false: the prompt ends in "<think></think>"
  bool truncate_history_thinking = true;  // collapse reasoning of turns before the last user message
  bool low_effort = false;                // Super: "{reasoning effort: low}" on the last user message

  // enable_thinking from the request; truncate_history_thinking and low_effort from its
  // extra_template_kwargs (booleans; anything else is an error naming the key).
  static ChatTemplateOptions from_request(const ChatRequest& request, bool add_generation_prompt = true);
};

// tools: OpenAI function schemas ([{type, function: {name, description, parameters}}] or bare
// {name, ...}). Throws std::invalid_argument when a tool call's arguments are not an object.
std::string render_nemotron3_prompt(const std::vector<Message>& messages, const json& tools,
                                    const ChatTemplateOptions& options);
std::string render_nemotron3_prompt(const ChatRequest& request, bool add_generation_prompt = true);

}  // namespace nagent
