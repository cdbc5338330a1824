#include "engine/chat.h"

namespace nagent {

json to_json(const Message& m) {
  json j = {{"role", m.role}, {"content", m.content}};
  if (!m.reasoning.empty()) j["reasoning_content"] = m.reasoning;
  if (!m.tool_calls.empty()) {
    json calls = json::array();
    for (const auto& c : m.tool_calls) {
      calls.push_back({{"id", c.id},
                       {"type", "function"},
                       {"function", {{"name", c.name}, {"arguments", c.arguments.dump()}}}});
    }
    j["tool_calls"] = std::move(calls);
  }
  if (m.role == "tool") {
    j["tool_call_id"] = m.tool_call_id;
    if (!m.name.empty()) j["name"] = m.name;
  }
  return j;
}

Message message_from_json(const json& j) {
  Message m;
  m.role = j.value("role", "");
  if (j.contains("content") && j["content"].is_string()) m.content = j["content"].get<std::string>();
  if (j.contains("reasoning_content") && j["reasoning_content"].is_string())
    m.reasoning = j["reasoning_content"].get<std::string>();
  m.tool_call_id = j.value("tool_call_id", "");
  m.name = j.value("name", "");
  if (j.contains("tool_calls") && j["tool_calls"].is_array()) {
    for (const auto& c : j["tool_calls"]) {
      ToolCall call;
      call.id = c.value("id", "");
      const json& fn = c.contains("function") ? c["function"] : c;
      call.name = fn.value("name", "");
      if (fn.contains("arguments")) {
        const json& a = fn["arguments"];
        call.arguments = a.is_string() ? json::parse(a.get<std::string>(), nullptr, false) : a;
        if (call.arguments.is_discarded()) call.arguments = json::object();
      }
      m.tool_calls.push_back(std::move(call));
    }
  }
  return m;
}

}  // namespace nagent
