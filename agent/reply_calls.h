// Turns a model reply into the assistant message to keep in the conversation and the tool
// calls to run. Calls come from the server's tool parser (reply.tool_calls) or, when the
// server has none, from our qwen3_coder parser over the reply text. Either way each call is
// checked against the tool registry; a bad call carries an error for the model instead.
#pragma once

#include <string>
#include <vector>

#include "engine/chat.h"
#include "tools/tool.h"

namespace nagent {

struct PlannedCall {
  ToolCall call;        // id, resolved tool name, typed arguments
  std::string error;    // non-empty: do not run; send this to the model as the result
};

struct InterpretedReply {
  Message assistant;    // role assistant: content, reasoning, the calls with a tool name
  std::vector<PlannedCall> calls;
  // Problems not attached to any call (e.g. "<tool_call> without a function name"): sent
  // back to the model as a user message.
  std::vector<std::string> stray_errors;
};

InterpretedReply interpret_reply(const ChatReply& reply, const ToolRegistry& tools, bool thinking_enabled);

// "call_" + 24 hex digits, like vLLM's ids.
std::string new_call_id();

}  // namespace nagent
