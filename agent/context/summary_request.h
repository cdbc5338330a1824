// The checkpoint request of compaction stage c: the oldest span of the conversation as a
// transcript, and the instructions that make the model write a structured checkpoint
// (goal, decisions, files touched, tried and failed, open questions, next steps). The
// request is sized by the caller to fit the window with the summary's budget to spare.
#pragma once

#include <string>
#include <vector>

#include "engine/chat.h"

namespace nagent {

// The messages as plain text ("[assistant] ...", "[call read_file {...}]", "[tool read_file] ..."),
// at most max_chars (head and tail kept, the middle cut with a note).
std::string transcript_of(const std::vector<Message>& messages, size_t max_chars);

// No tools, no thinking, max_tokens = summary_tokens.
ChatRequest checkpoint_request(const std::string& task, const std::string& transcript, int64_t summary_tokens,
                               const SamplingParams& sampling);

// The checkpoint message that replaces the span ("[Checkpoint of steps 3-40 ...]\n\n" + summary).
std::string checkpoint_message(int first_step, int last_step, const std::string& summary);

}  // namespace nagent
