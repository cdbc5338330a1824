// The planner loop: system prompt + task -> model -> tool calls -> results -> model ...
// until the model calls finish, the stop condition holds, or a budget runs out. Every
// step is journaled before the next one starts.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "agent/context/compactor.h"
#include "agent/context/context_policy.h"
#include "agent/journal.h"
#include "engine/backend.h"
#include "tools/tool.h"

namespace nagent {

struct AgentConfig {
  std::string name = "agent";
  std::string system_prompt;
  std::vector<std::string> tools;   // tool names; empty: every tool of the registry
  int max_steps = 50;               // model turns
  int64_t max_tokens = 0;           // prompt + completion tokens over the run; 0: no limit
  double max_wall_s = 0;            // 0: no limit
  int max_format_errors = 3;        // consecutive replies with no usable tool call
  // The same failing call (tool, arguments and result all equal) this many times in a row ends
  // the run as "stuck"; from the second time on its result carries a note saying so. 0: no limit.
  int max_repeated_failures = 4;
  bool stop_on_tests_pass = false;  // end as soon as run_tests passes
  bool finish_on_text_reply = false;  // a reply without tool calls is the final answer
  SamplingParams sampling;
  bool enable_thinking = true;
  // Recipe hooks (either may be empty), called on the thread running the agent.
  // before_tool_call sees each reply's valid calls before any of them runs; a returned
  // reason denies that call, and the model gets "Denied: REASON" as its result.
  // after_tool_call may rewrite a result before the model (and the journal) sees it.
  std::function<std::optional<std::string>(const ToolCall&)> before_tool_call;
  std::function<void(const ToolCall&, ToolResult&)> after_tool_call;
  // The context layer: window, compaction thresholds and strategy, artifacts (docs/context.md).
  ContextPolicy context;
  // Replaces compaction stage c's model call when it returns a summary (recipe hook).
  CompactionHook on_compaction;
};

struct AgentResult {
  // "finished" (finish tool), "tests_passed", "budget_exhausted", "format_errors", "stuck" (the
  // same failing call over and over), "cancelled", "context_full" (the context could not be
  // compacted under the window; summary says why)
  std::string outcome;
  bool ok = false;                  // finished or tests_passed
  std::string summary;              // finish's summary, or what stopped the run
  int steps = 0;
  int64_t tokens = 0;
  double wall_s = 0;

  json to_json() const;
  static AgentResult from_json(const json& j);
};

// What the host lends a running agent: live display of streamed output (the journal gets
// everything durable), and a cancellation flag checked before every step.
struct AgentHooks {
  std::function<void(const ChatDelta&)> on_delta;
  const std::atomic<bool>* cancel = nullptr;
  bool cancelled() const { return cancel && cancel->load(); }
};

class Agent {
 public:
  Agent(AgentConfig config, Backend& backend, const ToolRegistry& tools, ToolContext& context, Journal& journal);

  // Runs the agent on a task as journal op `op`. If the journal holds events of this op
  // from an earlier run, the conversation is rebuilt from them and continues.
  AgentResult run(const std::string& task, int op, const AgentHooks& hooks = {});

  // Window accounting of the last request (prompt tokens) for the progress line.
  int64_t context_tokens() const { return context_tokens_; }

 private:
  AgentConfig config_;
  Backend& backend_;
  ToolRegistry tools_;   // the configured tools, plus read_artifact and search_artifact
  ToolContext context_;  // the host's, reading this session's artifacts
  Journal& journal_;
  int64_t context_tokens_ = 0;
};

}  // namespace nagent
