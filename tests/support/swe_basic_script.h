// Test helper: what a good model does on examples/swe_basic, one reply per step, for the
// scripted model server (the test double). The step is read from the request (how many
// assistant turns it holds), so a resumed run gets the right reply.
#pragma once

#include "support/scripted_server.h"
#include "support/tool_call_text.h"

inline int assistant_turns(const nagent::json& request) {
  int n = 0;
  for (const auto& m : request["messages"]) n += m["role"] == "assistant";
  return n;
}

inline ScriptedReply swe_basic_step(int step) {
  using nagent::json;
  switch (step) {
    case 0:
      return {.reasoning = "The even-length median tests fail; read the implementation.",
              .content = text_call("read_file", {{"path", "stats/summary.py"}})};
    case 1:
      return {.tool_calls = json::array(
                  {{{"id", "call_edit"},
                    {"type", "function"},
                    {"function",
                     {{"name", "edit_file"},
                      {"arguments", json{{"path", "stats/summary.py"},
                                         {"old_str", "return (ordered[mid] + ordered[mid + 1]) / 2"},
                                         {"new_str", "return (ordered[mid - 1] + ordered[mid]) / 2"}}
                                        .dump()}}}}})};
    case 2:
      return {.content = "Now run the tests.\n" + text_call("run_tests", {})};
    default:
      return {.content = text_call("finish", {{"summary", "median used the wrong upper middle index"}})};
  }
}
