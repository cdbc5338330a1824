// Assembles a ChatReply from what an OpenAI-compatible server sends: the chunks of a
// streamed chat completion (delta.reasoning_content / reasoning / content / tool_calls
// fragments, finish_reason, a usage chunk) or one non-streamed completion body.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "engine/chat.h"

namespace nagent {

class ReplyAssembler {
 public:
  // Applies one "chat.completion.chunk"; returns the text it adds, for live display.
  ChatDelta add_chunk(const json& chunk);
  // Applies a whole "chat.completion" body (a server that ignored stream: true).
  void add_completion(const json& body);
  // True once a finish_reason arrived (the reply is complete even if [DONE] never comes).
  bool finished() const { return !reply_.finish_reason.empty(); }
  // The reply, tool call arguments parsed. Call once, at the end.
  ChatReply finish();

 private:
  struct PendingCall {
    std::string id, name, arguments;
  };
  void add_tool_call_delta(const json& delta);
  size_t slot_for(const json& delta, const std::string& id);  // calls_ position of a delta
  void add_usage(const json& usage);

  ChatReply reply_;
  std::vector<PendingCall> calls_;
  std::map<int64_t, size_t> slot_of_index_;  // delta "index" -> calls_ position
  size_t last_slot_ = 0;
};

// A tool call from the server's arguments text. Text that is not a JSON object (after
// undoing a double encoding some servers produce) is kept in raw_arguments.
ToolCall tool_call_from_text(std::string id, std::string name, const std::string& arguments);

}  // namespace nagent
