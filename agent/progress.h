// Progress: the terminal view of a run. Live lines on stderr (step, tool, short arguments,
// duration, context fill, tokens, elapsed), colour only on a TTY; or, with --json, every
// journal event as one JSON line on stdout for machines.
#pragma once

#include <chrono>
#include <cstdio>
#include <map>
#include <string>

#include "agent/session_store.h"
#include "engine/chat.h"

namespace nagent {

class Progress {
 public:
  enum class Mode { Human, Json, Quiet };
  Progress(Mode mode, std::FILE* human_out = stderr, std::FILE* json_out = stdout);

  void on_event(const StoredEvent& event);  // a journal observer
  void on_delta(const ChatDelta& delta);    // streaming model output (TTY status line)
  void note(const std::string& text);       // a free-form line (recipe logs, resume notice)

  double elapsed_s() const;

  // Number model turns over the whole session ([1], [2], ... across all agents and
  // sub-agents, the numbers `nagent sessions fork --at` takes) instead of per agent (each
  // agent's own steps, as a live run shows them). For `nagent sessions show`.
  void number_turns_over_session() { session_numbering_ = true; }

 private:
  Mode mode_;
  std::FILE* out_;
  std::FILE* json_out_;
  bool color_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  double first_event_ts_ = 0;  // elapsed times are measured from the first event seen
  std::map<std::string, std::string> call_brief_;  // call id -> "path:1-40"
  size_t streamed_bytes_ = 0;
  bool status_line_open_ = false;
  bool session_numbering_ = false;
  int session_turns_ = 0;                         // model turns seen
  std::map<std::pair<int, int>, int> turn_of_;   // (op, agent step) -> session turn

  void human(const StoredEvent& e);
  void clear_status_line();
  std::string paint(const char* code, const std::string& text) const;
};

// "read_file src/a.py:10-20", "shell pytest -q", ... for one call.
std::string brief_call(const std::string& tool, const json& arguments);
// "12.3k" style token counts.
std::string short_count(int64_t n);

}  // namespace nagent
