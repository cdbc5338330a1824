#include "agent/reply_calls.h"

#include <random>

#include "agent/qwen3_coder_parser.h"

namespace nagent {
namespace {

std::string unknown_tool_message(const std::string& name, const ToolRegistry& tools) {
  std::string list;
  for (const auto& n : tools.names()) list += (list.empty() ? "" : ", ") + n;
  return "unknown tool '" + name + "'. Available tools: " + list + ".";
}

}  // namespace

std::string new_call_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* hex = "0123456789abcdef";
  std::string id = "call_";
  for (int i = 0; i < 24; ++i) id += hex[rng() & 15];
  return id;
}

InterpretedReply interpret_reply(const ChatReply& reply, const ToolRegistry& tools, bool thinking_enabled) {
  InterpretedReply out;
  out.assistant.role = "assistant";

  if (!reply.tool_calls.empty()) {
    // The server parsed the calls; its content and reasoning are already split.
    out.assistant.content = reply.content;
    out.assistant.reasoning = reply.reasoning;
    for (const auto& c : reply.tool_calls) {
      PlannedCall p{c, {}};
      if (p.call.id.empty()) p.call.id = new_call_id();
      const Tool* tool = tools.find(c.name);
      if (!tool) {
        p.error = unknown_tool_message(c.name, tools);
      } else {
        p.call.name = tool->name();
        if (!c.raw_arguments.empty())
          p.error = "the arguments of " + tool->name() + " are not valid JSON: " + c.raw_arguments.substr(0, 400) +
                    " (send one JSON object with the parameters)";
        else if (!c.arguments.is_object())
          p.error = "arguments of " + tool->name() + " must be a JSON object";
        else
          p.error = validate_arguments(*tool, c.arguments);
      }
      out.assistant.tool_calls.push_back(p.call);
      out.calls.push_back(std::move(p));
    }
    return out;
  }

  ParserOptions options;
  options.starts_in_reasoning = reply.reasoning.empty() && thinking_enabled;
  options.tools = tools.openai_schemas();
  options.aliases = tools.aliases();
  ParsedReply parsed = Qwen3CoderParser::parse(reply.content, options);
  out.assistant.content = parsed.content;
  out.assistant.reasoning = reply.reasoning.empty() ? parsed.reasoning : reply.reasoning;
  for (auto& pc : parsed.calls) {
    if (pc.name.empty()) {
      out.stray_errors.push_back(pc.error.empty() ? "a tool call without a function name" : pc.error);
      continue;
    }
    PlannedCall p;
    p.call.id = new_call_id();
    p.call.name = pc.name;
    p.call.arguments = pc.arguments;
    p.error = pc.error;
    if (p.error.empty() && !tools.find(pc.name)) p.error = unknown_tool_message(pc.name, tools);
    out.assistant.tool_calls.push_back(p.call);
    out.calls.push_back(std::move(p));
  }
  return out;
}

}  // namespace nagent
