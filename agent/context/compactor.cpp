#include "agent/context/compactor.h"

#include <algorithm>
#include <cmath>

#include "agent/context/summary_request.h"
#include "agent/context/tool_output_view.h"

namespace nagent {
namespace {

// The checkpoint message's own framing, on top of the summary's budget.
constexpr int64_t kCheckpointFraming = 64;
// Room the summary request leaves for its instructions and the task.
constexpr int64_t kRequestOverhead = 1024;

std::string words(int64_t tokens) { return std::to_string(tokens) + " tokens"; }

}  // namespace

Compactor::Compactor(ContextPolicy policy, int64_t window, Backend& backend, ArtifactStore* artifacts,
                     CompactionHook hook, SamplingParams sampling)
    : policy_(std::move(policy)),
      window_(window),
      backend_(backend),
      artifacts_(artifacts),
      hook_(std::move(hook)),
      sampling_(sampling) {}

bool Compactor::due(const Conversation& c) const {
  return policy_.strategy != "none" && double(c.tokens()) > policy_.threshold * double(window_);
}

Compaction Compactor::compact(const Conversation& c, int step, const std::string& trigger,
                              const DeltaCallback& on_delta) {
  const auto& msgs = c.messages();
  const auto& ents = c.entries();
  const TokenCounter& counter = c.counter();
  Compaction out;
  out.step = step;
  out.trigger = trigger;
  out.window = window_;
  out.tokens_before = c.tokens();
  const int64_t target = int64_t(policy_.target * double(window_));
  const int64_t min_goal = out.tokens_before - int64_t(policy_.min_free * double(window_));

  size_t first_free = 0;  // first message a compaction may touch
  while (first_free < ents.size() && ents[first_free].pinned) ++first_free;
  std::vector<size_t> turns;  // where each unpinned model turn starts
  for (size_t i = first_free; i < msgs.size(); ++i)
    if (msgs[i].role == "assistant") turns.push_back(i);
  auto keep_from = [&](int keep) { return size_t(keep) <= turns.size() ? turns[turns.size() - size_t(keep)] : first_free; };

  // Stages a and b over everything before the latest keep_recent turns.
  std::vector<int64_t> tokens(ents.size());
  for (size_t i = 0; i < ents.size(); ++i) tokens[i] = ents[i].tokens;
  std::vector<Message> shrunk(msgs.begin(), msgs.end());  // the messages as a and b leave them
  const size_t recent = keep_from(policy_.keep_recent);
  out.reasoning_before = recent;
  for (size_t i = first_free; i < recent; ++i) {
    Message& m = shrunk[i];
    if (m.role == "assistant" && !m.reasoning.empty()) {
      Message before = m;
      m.reasoning.clear();
      tokens[i] = counter.recount(tokens[i], before, m);
    } else if (m.role == "tool" && artifacts_ && m.content.size() > 512) {
      std::optional<ArtifactInfo> known;
      if (!ents[i].artifact.empty()) known = artifacts_->info(ents[i].artifact);
      const ArtifactInfo a = known ? *known : artifacts_->put(m.content);
      Message elided = m;
      elided.content = elided_output(m.name, a);
      const int64_t t = counter.recount(tokens[i], m, elided);
      if (t >= tokens[i]) continue;
      out.elided.emplace_back(i, elided.content);
      m = std::move(elided);
      tokens[i] = t;
    }
  }
  int64_t after = out.tokens_before;
  for (size_t i = 0; i < ents.size(); ++i) after += tokens[i] - ents[i].tokens;
  out.tokens_after = after;
  if (after <= target) return out;
  if (policy_.strategy == "elide") {
    if (after <= min_goal) return out;
    throw ContextError("the context cannot be compacted enough without summarizing (strategy \"elide\"): " +
                       words(out.tokens_before) + " of a " + words(window_) + " window, " + words(after) +
                       " after eliding old reasoning and tool outputs; allow context.strategy = \"summarize\"");
  }

  // Stage c: summarize [first_free, keep) for the largest keep that reaches the target, else
  // the one that frees the most, if that frees the minimum.
  const int64_t summary_tokens = std::max<int64_t>(64, std::min(policy_.summary_tokens, window_ / 16));
  size_t chosen = 0;
  int64_t chosen_after = 0;
  for (int keep = policy_.keep_recent; keep >= 1; --keep) {
    const size_t end = keep_from(keep);
    if (end <= first_free) continue;
    int64_t span = 0;
    for (size_t i = first_free; i < end; ++i) span += tokens[i];
    const int64_t a = after - span + summary_tokens + kCheckpointFraming;
    if (chosen == 0 || a < chosen_after) {
      chosen = end;
      chosen_after = a;
    }
    if (a <= target) break;
  }
  if (chosen == 0 || chosen_after > min_goal) {
    int64_t latest = 0;
    for (size_t i = keep_from(1); i < ents.size(); ++i) latest += tokens[i];
    throw ContextError("the context cannot be compacted: " + words(out.tokens_before) + " of a " + words(window_) +
                       " window, and summarizing all but the system prompt, the task and the last turn (" +
                       words(latest) + ") would not free the guaranteed " +
                       std::to_string(int(policy_.min_free * 100)) +
                       "% of the window; give the model a larger window (--context-length) or a shorter task");
  }

  const std::vector<Message> span(shrunk.begin() + long(first_free), shrunk.begin() + long(chosen));
  const int first_step = std::max(0, ents[first_free].step), last_step = std::max(0, ents[chosen - 1].step);
  const std::string summary = summarize(c, span, out, first_step, last_step, summary_tokens, on_delta);
  out.span_begin = first_free;
  out.span_end = chosen;
  out.summary = checkpoint_message(first_step, last_step, summary);
  int64_t span_tokens = 0;
  for (size_t i = first_free; i < chosen; ++i) span_tokens += tokens[i];
  out.tokens_after = after - span_tokens + counter.count(Message::user(out.summary));
  return out;
}

std::string Compactor::summarize(const Conversation& c, const std::vector<Message>& span, Compaction& out,
                                 int first_step, int last_step, int64_t summary_tokens,
                                 const DeltaCallback& on_delta) {
  const TokenCounter& counter = c.counter();
  // The summary is cut to its budget whoever wrote it, so the compaction frees what it planned.
  auto fit = [&](std::string text) {
    if (counter.count_text(text) <= summary_tokens) return text;
    const size_t chars = size_t(double(summary_tokens) * counter.chars_per_token() * 0.9);
    return cap_output(text, chars, 1.0);
  };
  // What the request may spend on the transcript: the window less the summary and overhead.
  size_t budget_chars =
      size_t(double(window_ - summary_tokens - kRequestOverhead) * counter.chars_per_token() * 0.9);
  std::string task;  // the last pinned message
  for (size_t i = 0; i < c.entries().size() && c.entries()[i].pinned; ++i) task = c.messages()[i].content;
  const std::string task_shown = cap_output(task, std::min<size_t>(task.size(), budget_chars / 8));
  budget_chars -= std::min(budget_chars, task_shown.size());
  const std::string transcript = transcript_of(span, budget_chars);
  if (hook_) {
    json messages = json::array();
    for (const auto& m : span) messages.push_back({{"role", m.role}, {"content", m.content}, {"name", m.name}});
    const json info = {{"step", out.step},
                       {"window", window_},
                       {"tokens", out.tokens_before},
                       {"target_tokens", int64_t(policy_.target * double(window_))},
                       {"summary_tokens", summary_tokens},
                       {"first_step", first_step + 1},
                       {"last_step", last_step + 1},
                       {"transcript", transcript},
                       {"messages", messages}};
    if (auto s = hook_(info)) {
      out.summary_source = "hook";
      return fit(*s);
    }
  }
  // Sized to fit; a server that counts more tokens than estimated gets a halved transcript.
  std::string shown = transcript;
  for (int attempt = 0; attempt < 3; ++attempt) {
    try {
      ChatReply reply = backend_.chat(checkpoint_request(task_shown, shown, summary_tokens, sampling_), on_delta);
      out.summary_prompt_tokens += reply.usage.prompt_tokens;
      out.summary_completion_tokens += reply.usage.completion_tokens;
      if (reply.content.find_first_not_of(" \t\r\n") == std::string::npos) break;
      out.summary_source = "model";
      return fit(reply.content);
    } catch (const ContextOverflowError&) {
      shown = transcript_of(span, shown.size() / 2);
    }
  }
  // No usable summary from the model: the transcript itself, cut to the budget.
  out.summary_source = "fallback";
  return fit(transcript);
}

}  // namespace nagent
