// Test helper: the scripted model of a long session, for the context-layer tests. Each turn
// calls one tool whose output ends in "step-N"; the model's next turn is N+1, read back from
// the request (so the script also works for a resumed or compacted conversation, where
// counting assistant turns would not). Checkpoint requests of compaction stage c are told
// apart by their instructions and answered with `summary`.
#pragma once

#include <regex>
#include <string>

#include "support/scripted_server.h"

inline bool is_checkpoint_request(const nagent::json& request) {
  const auto& m = request["messages"];
  return !m.empty() && m[0]["content"].get<std::string>().find("working memory of a software agent") != std::string::npos;
}

// The turn a request asks for: one past the last "step-N" in a tool result, else 0.
inline int requested_step(const nagent::json& request) {
  static const std::regex marker("step-([0-9]+)");
  const auto& m = request["messages"];
  for (size_t i = m.size(); i-- > 0;) {
    if (m[i]["role"] != "tool") continue;
    const std::string content = m[i]["content"].is_string() ? m[i]["content"].get<std::string>() : "";
    std::smatch found;
    std::string::const_iterator from = content.begin();
    int last = -1;
    while (std::regex_search(from, content.cend(), found, marker)) {
      last = std::stoi(found[1]);
      from = found[0].second;
    }
    if (last >= 0) return last + 1;
  }
  return 0;
}

// A tool call the way a server with a tool parser sends it, with a fixed id (the same in
// every run, so conversations of different runs compare equal).
inline nagent::json scripted_call(int step, const std::string& name, const nagent::json& args) {
  return {{"id", "call_" + std::to_string(step)},
          {"type", "function"},
          {"function", {{"name", name}, {"arguments", args.dump()}}}};
}

inline ScriptedReply finish_reply(int step) {
  return {.tool_calls = nagent::json::array({scripted_call(step, "finish", {{"summary", "done"}})})};
}
