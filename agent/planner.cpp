#include "agent/planner.h"

#include <algorithm>
#include <chrono>
#include <future>

#include "agent/context/tool_output_view.h"
#include "agent/reply_calls.h"
#include "tools/builtin.h"

namespace nagent {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

constexpr const char* kNoCallNudge =
    "Your reply contained no tool call. Continue the task by calling one of the tools in the "
    "<tool_call> format, or call finish with a summary when the task is done.";

json call_json(const PlannedCall& p) {
  json j = {{"id", p.call.id}, {"name", p.call.name}, {"arguments", p.call.arguments}};
  if (!p.error.empty()) j["error"] = p.error;
  return j;
}

PlannedCall call_from_json(const json& j) {
  PlannedCall p;
  p.call.id = j.value("id", "");
  p.call.name = j.value("name", "");
  p.call.arguments = j.value("arguments", json::object());
  p.error = j.value("error", "");
  return p;
}

// Builds the tool context an agent runs with: the host's, reading this session's artifacts.
ToolContext with_artifacts(const ToolContext& host, const ArtifactStore& artifacts) {
  ToolContext c = host;
  c.artifacts = &artifacts;
  return c;
}

// The configured tools, plus the artifact tools (long outputs are shown by handle).
ToolRegistry agent_tools(const ToolRegistry& all, const std::vector<std::string>& names) {
  ToolRegistry r = names.empty() ? all : all.subset(names);
  if (!r.find("read_artifact")) r.add(make_read_artifact_tool());
  if (!r.find("search_artifact")) r.add(make_search_artifact_tool());
  return r;
}

// Tokens kept free below the window for the reply and the server's own framing.
constexpr int64_t kWindowMargin = 256;

}  // namespace

json AgentResult::to_json() const {
  return {{"outcome", outcome}, {"ok", ok},     {"summary", summary},
          {"steps", steps},     {"tokens", tokens}, {"wall_s", wall_s}};
}

AgentResult AgentResult::from_json(const json& j) {
  AgentResult r;
  r.outcome = j.value("outcome", "error");
  r.ok = j.value("ok", false);
  r.summary = j.value("summary", "");
  r.steps = j.value("steps", 0);
  r.tokens = j.value("tokens", int64_t(0));
  r.wall_s = j.value("wall_s", 0.0);
  return r;
}

Agent::Agent(AgentConfig config, Backend& backend, const ToolRegistry& tools, ToolContext& context, Journal& journal)
    : config_(std::move(config)),
      backend_(backend),
      tools_(agent_tools(tools, config_.tools)),
      context_(with_artifacts(context, journal.artifacts())),
      journal_(journal) {}

AgentResult Agent::run(const std::string& task, int op, const AgentHooks& hooks) {
  const auto t0 = Clock::now();
  AgentResult result;
  ChatRequest request;
  request.tools = tools_.openai_schemas();
  request.sampling = config_.sampling;
  request.enable_thinking = config_.enable_thinking;
  // The conversation, sent as is each step; it grows at the end except where a compaction
  // (an explicit, journaled event) rewrites it.
  TokenCounter counter(&backend_);
  Conversation conversation(request.messages, counter, request.tools.dump());
  const int64_t window = config_.context.resolve_window(backend_.context_window());
  ArtifactStore& artifacts = journal_.artifacts();
  Compactor compactor(config_.context, window, backend_, &artifacts, config_.on_compaction, config_.sampling);
  if (!config_.system_prompt.empty()) conversation.append(Message::system(config_.system_prompt), -1, true);
  conversation.append(Message::user(task), -1, true);
  auto measured = [&](const json& usage) {
    if (usage.value("reported", false)) conversation.measured(usage.value("prompt_tokens", int64_t(0)));
  };

  // Rebuild the conversation from an earlier run of this op, if any.
  std::vector<PlannedCall> pending;  // calls of the last reply that have no recorded result
  double prior_wall_s = 0;
  const auto& prior = journal_.replay(op);
  if (prior.empty()) {
    journal_.record("agent_start", {{"op", op},
                                    {"name", config_.name},
                                    {"system", config_.system_prompt},
                                    {"task", task},
                                    {"tools", tools_.names()},
                                    {"max_steps", config_.max_steps},
                                    {"max_tokens", config_.max_tokens},
                                    {"max_wall_s", config_.max_wall_s},
                                    {"context",
                                     {{"window", window},
                                      {"threshold", config_.context.threshold},
                                      {"target", config_.context.target},
                                      {"strategy", config_.context.strategy}}}});
  } else {
    prior_wall_s = prior.back().ts - prior.front().ts;
    for (const auto& e : prior) {
      const json& d = e.data;
      if (e.type == "model_reply") {
        measured(d.value("usage", json::object()));
        Message m;
        m.role = "assistant";
        m.content = d.value("content", "");
        m.reasoning = d.value("reasoning", "");
        pending.clear();
        for (const auto& c : d.value("tool_calls", json::array())) {
          PlannedCall p = call_from_json(c);
          m.tool_calls.push_back(p.call);
          pending.push_back(std::move(p));
        }
        conversation.append(std::move(m), d.value("step", 0));
        result.steps = d.value("step", 0) + 1;
        result.tokens = d.value("tokens_total", result.tokens);
      } else if (e.type == "tool_result") {
        conversation.append(Message::tool_result(d.value("call_id", ""), d.value("name", ""), d.value("output", "")),
                            d.value("step", 0), false, d.value("artifact", ""));
        std::erase_if(pending, [&](const PlannedCall& p) { return p.call.id == d.value("call_id", ""); });
      } else if (e.type == "user_message") {
        conversation.append(Message::user(d.value("content", "")), d.value("step", 0));
      } else if (e.type == "context_compaction") {
        const Compaction c = Compaction::from_json(d);
        conversation.apply(c);
        result.tokens += c.summary_prompt_tokens + c.summary_completion_tokens;
      }
    }
    journal_.record("agent_resume", {{"op", op}, {"steps", result.steps}, {"pending_calls", pending.size()}});
  }

  int consecutive_format_errors = 0;
  // A model that repeats a failing call gets the same error back every time; small models do
  // that until the budget is gone. The last failure, and how many times in a row it came.
  std::string last_failure;
  int repeated_failures = 0;
  auto note_repeats = [&](const ToolCall& call, ToolResult& r) {
    if (r.ok) {
      last_failure.clear();
      repeated_failures = 0;
      return;
    }
    std::string failure = call.name + '\n' + call.arguments.dump() + '\n' + r.output;
    repeated_failures = failure == last_failure ? repeated_failures + 1 : 1;
    last_failure = std::move(failure);
    if (repeated_failures < 2) return;
    const std::string note = "\n\n[nagent] This is the same " + call.name +
                             " call, with the same arguments, that failed " + std::to_string(repeated_failures) +
                             " times in a row with this result; repeating it will not help. Read the error again, "
                             "look at the current file contents, or try a different change.";
    r.output += note;
    if (!r.full_output.empty()) r.full_output += note;
  };
  auto finish = [&](const std::string& outcome, const std::string& summary) {
    result.outcome = outcome;
    result.ok = outcome == "finished" || outcome == "tests_passed";
    result.summary = summary;
    result.wall_s = prior_wall_s + seconds_since(t0);
    return result;
  };

  // Runs the calls of one reply, in order; consecutive read-only calls run concurrently.
  // Returns true if the run ended (finish tool or stop condition).
  auto run_calls = [&](std::vector<PlannedCall>& calls, int step, std::string& end_outcome,
                       std::string& end_summary) {
    std::vector<bool> denied(calls.size(), false);
    if (config_.before_tool_call) {
      for (size_t k = 0; k < calls.size(); ++k) {
        if (!calls[k].error.empty()) continue;
        if (auto reason = config_.before_tool_call(calls[k].call)) {
          calls[k].error = "Denied: " + *reason;
          denied[k] = true;
        }
      }
    }
    size_t i = 0;
    while (i < calls.size()) {
      size_t j = i + 1;
      auto concurrent = [&](const PlannedCall& p) {
        const Tool* t = tools_.find(p.call.name);
        return p.error.empty() && t && t->read_only();
      };
      if (concurrent(calls[i]))
        while (j < calls.size() && concurrent(calls[j])) ++j;
      std::vector<std::future<std::pair<ToolResult, double>>> futures;
      for (size_t k = i; k < j; ++k) {
        const PlannedCall& p = calls[k];
        auto work = [this, &p, is_denied = bool(denied[k])]() {
          const auto start = Clock::now();
          ToolResult r;
          if (!p.error.empty()) {
            r.ok = false;
            r.output = is_denied ? p.error : "Error: " + p.error;
          } else {
            const Tool* tool = tools_.find(p.call.name);
            try {
              r = tool->run(p.call.arguments, context_);
            } catch (const sandbox::SandboxError&) {
              throw;
            } catch (const std::exception& e) {
              r.ok = false;
              r.output = std::string("Error: ") + p.call.name + " failed: " + e.what();
            }
          }
          return std::make_pair(std::move(r), seconds_since(start) * 1000.0);
        };
        futures.push_back(std::async(j - i > 1 ? std::launch::async : std::launch::deferred, work));
      }
      for (size_t k = i; k < j; ++k) {
        auto [r, ms] = futures[k - i].get();
        const PlannedCall& p = calls[k];
        if (config_.after_tool_call && !denied[k] && p.error.empty()) {
          const std::string before = r.output;
          config_.after_tool_call(p.call, r);
          if (r.output != before) r.full_output.clear();  // the hook's text is what counts
        }
        note_repeats(p.call, r);
        ToolOutputView view = view_of(r, config_.context, &artifacts);
        json event = {{"op", op},
                      {"step", step},
                      {"call_id", p.call.id},
                      {"name", p.call.name},
                      {"ok", r.ok},
                      {"exit_code", r.exit_code},
                      {"output", view.text},
                      {"duration_ms", ms},
                      {"data", r.data},
                      {"denied", denied[k]}};
        if (!view.artifact.empty()) event["artifact"] = view.artifact;
        journal_.record("tool_result", std::move(event));
        conversation.append(Message::tool_result(p.call.id, p.call.name, std::move(view.text)), step, false,
                            view.artifact);
        if (r.finished && end_outcome.empty()) {
          end_outcome = "finished";
          end_summary = p.call.arguments.value("summary", r.output);
        }
        if (config_.stop_on_tests_pass && p.call.name == "run_tests" && r.data.value("passed", false) &&
            end_outcome.empty()) {
          end_outcome = "tests_passed";
          end_summary = "the tests pass";
        }
        if (config_.max_repeated_failures > 0 && repeated_failures >= config_.max_repeated_failures &&
            end_outcome.empty()) {
          end_outcome = "stuck";
          end_summary = "the same failing " + p.call.name + " call " + std::to_string(repeated_failures) +
                        " times in a row";
        }
      }
      i = j;
    }
    return !end_outcome.empty();
  };

  if (!pending.empty()) {
    std::string outcome, summary;
    if (run_calls(pending, result.steps - 1, outcome, summary)) return finish(outcome, summary);
  }

  // Compacts before model turn `step`, journaling the plan before the conversation changes.
  auto compact = [&](int step, const std::string& trigger) {
    Compaction c = compactor.compact(conversation, step, trigger, hooks.on_delta);
    json event = c.to_json();
    event["op"] = op;
    journal_.record("context_compaction", std::move(event));
    conversation.apply(c);
    result.tokens += c.summary_prompt_tokens + c.summary_completion_tokens;
  };
  bool overflow_retried = false;  // a refused prompt is compacted and retried once

  while (true) {
    if (hooks.cancelled()) return finish("cancelled", "cancelled before step " + std::to_string(result.steps + 1));
    if (result.steps >= config_.max_steps)
      return finish("budget_exhausted", "step budget of " + std::to_string(config_.max_steps) + " used up");
    if (config_.max_tokens > 0 && result.tokens >= config_.max_tokens)
      return finish("budget_exhausted", "token budget of " + std::to_string(config_.max_tokens) + " used up");
    if (config_.max_wall_s > 0 && prior_wall_s + seconds_since(t0) >= config_.max_wall_s)
      return finish("budget_exhausted", "time budget of " + std::to_string(int(config_.max_wall_s)) + " s used up");

    const int step = result.steps;
    try {
      if (compactor.due(conversation)) compact(step, "threshold");
    } catch (const ContextError& e) {
      return finish("context_full", e.what());
    }
    request.stable_prefix_messages = conversation.stable_prefix();
    request.sampling.max_tokens =
        int(std::max<int64_t>(1, std::min<int64_t>(window - conversation.tokens() - kWindowMargin,
                                                    config_.sampling.max_tokens)));
    const int64_t estimated_prompt = conversation.tokens();
    conversation.sent();
    const auto start = Clock::now();
    ChatReply reply;
    try {
      reply = backend_.chat(request, hooks.on_delta);
    } catch (const ContextOverflowError& e) {
      if (overflow_retried || config_.context.strategy == "none") throw;
      overflow_retried = true;
      try {
        compact(step, "overflow");
      } catch (const ContextError& c) {
        return finish("context_full", std::string(e.what()) + "; " + c.what());
      }
      continue;
    }
    overflow_retried = false;
    const double ms = seconds_since(start) * 1000.0;

    const int64_t prompt_tokens = reply.usage.reported ? reply.usage.prompt_tokens : estimated_prompt;
    const int64_t completion_tokens =
        reply.usage.reported ? reply.usage.completion_tokens
                             : counter.count_text(reply.content) + counter.count_text(reply.reasoning);
    if (reply.usage.reported) conversation.measured(prompt_tokens);
    result.tokens += prompt_tokens + completion_tokens;
    context_tokens_ = prompt_tokens + completion_tokens;

    InterpretedReply interpreted = interpret_reply(reply, tools_, config_.enable_thinking);
    json calls = json::array();
    for (const auto& p : interpreted.calls) calls.push_back(call_json(p));
    journal_.record("model_reply", {{"op", op},
                                    {"step", step},
                                    {"content", interpreted.assistant.content},
                                    {"reasoning", interpreted.assistant.reasoning},
                                    {"tool_calls", calls},
                                    {"finish_reason", reply.finish_reason},
                                    {"usage",
                                     {{"prompt_tokens", prompt_tokens},
                                      {"completion_tokens", completion_tokens},
                                      {"reported", reply.usage.reported}}},
                                    {"context_tokens", context_tokens_},
                                    {"context_window", window},
                                    {"stable_prefix", request.stable_prefix_messages},
                                    {"tokens_total", result.tokens},
                                    {"duration_ms", ms}});
    conversation.append(interpreted.assistant, step);
    result.steps = step + 1;

    bool any_valid = false;
    for (const auto& p : interpreted.calls) any_valid |= p.error.empty();

    if (interpreted.calls.empty() && interpreted.stray_errors.empty() && config_.finish_on_text_reply)
      return finish("finished", interpreted.assistant.content);

    std::string outcome, summary;
    bool ended = run_calls(interpreted.calls, step, outcome, summary);

    std::string feedback;
    for (const auto& e : interpreted.stray_errors) feedback += (feedback.empty() ? "" : "\n") + ("Error: " + e);
    if (interpreted.calls.empty() && feedback.empty()) feedback = kNoCallNudge;
    if (!feedback.empty()) {
      journal_.record("user_message", {{"op", op}, {"step", step}, {"content", feedback}});
      conversation.append(Message::user(feedback), step);
    }
    if (ended) return finish(outcome, summary);

    consecutive_format_errors = any_valid ? 0 : consecutive_format_errors + 1;
    if (consecutive_format_errors >= config_.max_format_errors)
      return finish("format_errors", std::to_string(consecutive_format_errors) +
                                         " consecutive replies without a usable tool call");
  }
}

}  // namespace nagent
