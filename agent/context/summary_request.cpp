#include "agent/context/summary_request.h"

#include "tools/tool.h"

namespace nagent {
namespace {

constexpr const char* kInstructions =
    "You maintain the working memory of a software agent whose context window is full. Below is the oldest part "
    "of its session (possibly starting with an earlier checkpoint). Write a checkpoint that lets the agent continue "
    "without it. Use exactly these Markdown sections, terse bullet points, concrete names (files, functions, "
    "commands, error messages, artifact ids):\n"
    "## Goal\n## Decisions\n## Files touched\n## Tried and failed\n## Open questions\n## Next steps\n"
    "Keep everything still needed; drop what is settled. Reply with the checkpoint only.";

}  // namespace

std::string transcript_of(const std::vector<Message>& messages, size_t max_chars) {
  std::string out;
  for (const auto& m : messages) {
    if (m.role == "tool") {
      out += "[tool " + m.name + "]\n" + m.content + "\n";
      continue;
    }
    out += "[" + m.role + "]\n";
    if (!m.reasoning.empty()) out += "(thinking) " + m.reasoning + "\n";
    if (!m.content.empty()) out += m.content + "\n";
    for (const auto& c : m.tool_calls) out += "[call " + c.name + " " + c.arguments.dump() + "]\n";
  }
  return cap_output(out, max_chars, 0.5);
}

ChatRequest checkpoint_request(const std::string& task, const std::string& transcript, int64_t summary_tokens,
                               const SamplingParams& sampling) {
  ChatRequest r;
  r.sampling = sampling;
  r.sampling.max_tokens = int(summary_tokens);
  r.enable_thinking = false;
  r.messages.push_back(Message::system(kInstructions));
  r.messages.push_back(Message::user("The agent's task:\n" + task + "\n\nThe session so far:\n" + transcript +
                                     "\n\nWrite the checkpoint (at most about " + std::to_string(summary_tokens) +
                                     " tokens)."));
  return r;
}

std::string checkpoint_message(int first_step, int last_step, const std::string& summary) {
  return "[Checkpoint: steps " + std::to_string(first_step + 1) + "-" + std::to_string(last_step + 1) +
         " of this session were summarized to fit the context window; their tool outputs stay readable with "
         "read_artifact.]\n\n" + summary;
}

}  // namespace nagent
