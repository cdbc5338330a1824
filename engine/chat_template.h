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

// The pieces render_nemotron3_prompt is made of, for renderers that keep a rendered prefix
// (engine/incremental_prompt.h): the system turn with the tools; messages [from, to) as they
// read in the whole conversation (a tool result looks at its neighbours, an assistant turn
// at last_user, the index among the messages after a leading system message of the last
// user message, from nemotron3_last_user); the generation prompt.
long nemotron3_last_user(const std::vector<Message>& messages);
void render_nemotron3_header(std::string& out, const std::vector<Message>& messages, const json& tools);
void render_nemotron3_messages(std::string& out, const std::vector<Message>& messages, size_t from, size_t to,
                               long last_user, const ChatTemplateOptions& options);
void render_nemotron3_generation_prompt(std::string& out, const ChatTemplateOptions& options);

}  // namespace nagent
