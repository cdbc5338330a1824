// Compactor: brings a conversation back under the window when it passes the policy's
// threshold, in stages, each only when the previous did not reach the target:
//   a. earlier turns lose their reasoning,
//   b. earlier tool outputs shrink to their artifact handles,
//   c. the oldest span is summarized by the model into a structured checkpoint (or by the
//      recipe's hook), keeping the system prompt, the task and the latest turns verbatim.
// It never loops: a compaction frees at least policy.min_free of the window (the summary is
// cut to its budget if the model writes more), or compact() throws ContextError saying why
// it cannot. The summary request is sized to fit the window.
#pragma once

#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

#include "agent/context/artifact_store.h"
#include "agent/context/context_policy.h"
#include "agent/context/conversation.h"
#include "engine/backend.h"

namespace nagent {

struct ContextError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A recipe's replacement for stage c's model call: sees {step, window, tokens, target_tokens,
// summary_tokens, first_step, last_step, transcript, messages = [{role, content, name}]}; a
// returned string is the summary (cut to summary_tokens), nullopt asks the model.
using CompactionHook = std::function<std::optional<std::string>(const json& info)>;

class Compactor {
 public:
  Compactor(ContextPolicy policy, int64_t window, Backend& backend, ArtifactStore* artifacts, CompactionHook hook,
            SamplingParams sampling);

  int64_t window() const { return window_; }
  const ContextPolicy& policy() const { return policy_; }
  bool due(const Conversation& c) const;
  // The plan (with the summary, if stage c runs) for the conversation before model turn step.
  Compaction compact(const Conversation& c, int step, const std::string& trigger, const DeltaCallback& on_delta);

 private:
  ContextPolicy policy_;
  int64_t window_;
  Backend& backend_;
  ArtifactStore* artifacts_;
  CompactionHook hook_;
  SamplingParams sampling_;

  std::string summarize(const Conversation& c, const std::vector<Message>& span, Compaction& out, int first_step,
                        int last_step, int64_t summary_tokens, const DeltaCallback& on_delta);
};

}  // namespace nagent
