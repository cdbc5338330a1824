// Chat data model shared by every backend and by the agent: messages in OpenAI's shape
// (role, content, reasoning, tool calls), plus the request and reply of one model turn.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace nagent {

using json = nlohmann::ordered_json;

struct ToolCall {
  std::string id;         // "call_..." (ours, or the server's)
  std::string name;
  json arguments = json::object();  // parsed, typed arguments (never a JSON string)
  // The arguments text as the server sent it, kept only when it was not a JSON object
  // (arguments is then {}, which is also what history sends back: servers parse the
  // arguments of past calls and reject malformed ones). The agent reports it to the model.
  std::string raw_arguments = {};
};

struct Message {
  std::string role;       // "system" | "user" | "assistant" | "tool"
  std::string content;
  std::string reasoning;  // assistant only: reasoning_content
  std::vector<ToolCall> tool_calls;  // assistant only
  std::string tool_call_id;          // tool only: which call this answers
  std::string name;                  // tool only: the tool's name

  static Message system(std::string text) { return {"system", std::move(text), {}, {}, {}, {}}; }
  static Message user(std::string text) { return {"user", std::move(text), {}, {}, {}, {}}; }
  static Message tool_result(std::string call_id, std::string tool, std::string text) {
    return {"tool", std::move(text), {}, {}, std::move(call_id), std::move(tool)};
  }
};

json to_json(const Message& m);      // OpenAI wire shape (arguments as a JSON string)
Message message_from_json(const json& j);  // accepts arguments as object or JSON string

struct SamplingParams {
  double temperature = 0.6;
  double top_p = 0.95;
  int max_tokens = 8192;
  std::optional<uint64_t> seed;
};

struct ChatRequest {
  std::vector<Message> messages;
  json tools = json::array();  // OpenAI function schemas: [{type:"function", function:{name, description, parameters}}]
  SamplingParams sampling;
  bool enable_thinking = true;
  json extra_template_kwargs = json::object();  // merged into chat_template_kwargs
  // Prefix stability: how many leading messages are the same as in the previous request of
  // this conversation (the agent renders append-only between compactions; a compaction
  // rewrites from its first changed message). A backend may reuse what it computed for
  // them (the embedded engine's saved state, a server's prefix cache); 0: nothing known.
  size_t stable_prefix_messages = 0;
};

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_prompt_tokens = 0;  // leading prompt tokens served from saved state / prefix cache
  bool reported = false;  // false: the server sent no usage
};

// One model reply. A server with a tool parser fills tool_calls; a server without one (or
// the embedded engine) leaves them empty and the calls stay as qwen3_coder text in content,
// which the agent parses itself. reasoning is empty when the server split none out.
struct ChatReply {
  std::string content;
  std::string reasoning;
  std::vector<ToolCall> tool_calls;
  std::string finish_reason;  // "stop" | "length" | "tool_calls" | ...
  Usage usage;
  std::string model;
};

// Incremental pieces of a reply as they stream in (for live display only; the final
// ChatReply is authoritative).
struct ChatDelta {
  std::string reasoning;
  std::string content;
  // The stream broke and the backend retries the turn from the start: what was shown of
  // this reply so far is void (reasoning and content are empty in this delta).
  bool restarted = false;
};

}  // namespace nagent
