// Conversation: the messages an agent sends, with what each costs in tokens, and the
// record of how compactions rewrote them. The agent's live loop and its resume build it
// the same way, from the same events (append, measured, apply), so a resumed agent sends
// exactly the context the killed one would have.
//
// Between compactions it only grows at the end (prefix stability); a compaction is an
// explicit event, and stable_prefix() says from which message the next request differs.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "agent/context/token_counter.h"
#include "engine/chat.h"

namespace nagent {

// One compaction, as journaled ("context_compaction") and replayed on resume.
struct Compaction {
  int step = 0;                  // made before this model turn
  std::string trigger;           // "threshold" | "overflow" (the server refused the prompt)
  size_t reasoning_before = 0;   // stage a: assistant messages before this index lose their reasoning
  std::vector<std::pair<size_t, std::string>> elided;  // stage b: (index, artifact handle text)
  size_t span_begin = 0, span_end = 0;  // stage c: messages [begin, end) become one checkpoint message
  std::string summary;                  // ... with this text (empty when span_end == span_begin)
  std::string summary_source;           // "model", "hook", "fallback" or "" (no stage c)
  int64_t tokens_before = 0, tokens_after = 0, window = 0;
  int64_t summary_prompt_tokens = 0, summary_completion_tokens = 0;

  bool summarizes() const { return span_end > span_begin; }
  json to_json() const;
  static Compaction from_json(const json& j);
};

struct ContextEntry {
  int64_t tokens = 0;
  int step = -1;          // the model turn it belongs to; -1: system prompt, task, checkpoint
  bool pinned = false;    // system prompt and task: never compacted
  std::string artifact;   // tool results: the artifact holding the whole output, if any
};

class Conversation {
 public:
  // messages: the vector the agent's ChatRequest sends (kept in step with the entries);
  // fixed_text: what every prompt carries besides messages (the tool schemas' JSON).
  Conversation(std::vector<Message>& messages, TokenCounter& counter, std::string fixed_text);

  void append(Message m, int step, bool pinned = false, std::string artifact = {});
  // The reply to a request holding every message so far reported its prompt size: from now
  // on the count is exact up to here, and the messages since the last report share the
  // difference (the first report also calibrates the counter).
  void measured(int64_t prompt_tokens);
  void apply(const Compaction& c);

  // The next request's prompt tokens: exact up to the last report, estimated after it.
  int64_t tokens() const;
  bool exact() const { return measured_count_ > 0; }
  const std::vector<Message>& messages() const { return messages_; }
  const std::vector<ContextEntry>& entries() const { return entries_; }
  TokenCounter& counter() { return counter_; }
  const TokenCounter& counter() const { return counter_; }
  int64_t fixed_tokens() const { return fixed_tokens_; }

  // Leading messages unchanged since the last request (call sent() when one goes out).
  size_t stable_prefix() const;
  void sent();

 private:
  std::vector<Message>& messages_;
  std::vector<ContextEntry> entries_;
  TokenCounter& counter_;
  std::string fixed_text_;
  int64_t fixed_tokens_;
  int64_t sum_ = 0;                // entry tokens, all of them
  size_t measured_count_ = 0;      // messages covered by the last report (0: none since a compaction)
  int64_t measured_tokens_ = 0;    // that report's prompt tokens
  int64_t sum_at_measure_ = 0;     // sum_ then
  bool calibrated_ = false;
  size_t first_changed_ = SIZE_MAX;  // first message a compaction rewrote since sent()
  size_t sent_count_ = 0;            // messages of the last request
};

}  // namespace nagent
