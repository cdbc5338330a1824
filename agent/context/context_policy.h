// ContextPolicy: how an agent keeps its context inside the model's window: the window
// itself, when to compact and how far, what to keep verbatim, when a tool output becomes an
// artifact. Defaults suit Nemotron 3; a sandbox policy file's `context` table sets defaults
// for the agents that run under it, and a recipe tunes them per agent (nagent.agent{context =
// {...}}), over the policy's (docs/context.md).
#pragma once

#include <cstdint>
#include <string>

#include "engine/chat.h"
#include "sandbox/policy.h"

namespace nagent {

struct ContextPolicy {
  int64_t window = 0;          // tokens; 0: the backend's (--context-length, /models), else kDefaultWindow
  double threshold = 0.8;      // compact when the next prompt passes this share of the window
  double target = 0.5;         // compaction aims at this share
  double min_free = 0.2;       // ... and frees at least this share of the window, or fails
  int keep_recent = 4;         // model turns (with their tool results) kept verbatim
  uint64_t artifact_bytes = 16 * 1024;  // longer tool outputs are stored whole as artifacts
  uint64_t view_bytes = 16 * 1024;      // what the model sees of one (head + tail + handle)
  int64_t summary_tokens = 4096;        // the checkpoint summary's budget (at most window / 16)
  // "summarize": stages a, b, then c as needed; "elide": a and b only (no model call);
  // "none": never compact (a request over the window fails with the server's error).
  std::string strategy = "summarize";

  static constexpr int64_t kDefaultWindow = 262144;
  static constexpr int64_t kMaxWindow = 1048576;

  // The fields of a recipe's context table over these defaults; throws std::invalid_argument
  // naming the bad field ("context.threshold must be a number in (0, 1)").
  static ContextPolicy from_json(const json& spec, const ContextPolicy& defaults);
  // The `context` tables of a sandbox policy (and of the policies it extends, base first)
  // over these defaults; throws std::invalid_argument naming the policy file and the field
  // ("policy /p/build.lua: context.threshold must be a number in (0.00, 1.00]").
  static ContextPolicy from_policy(const sandbox::Policy& policy, const ContextPolicy& defaults);
  // The window to plan with: the policy's, else the backend's, else the default; capped at kMaxWindow.
  int64_t resolve_window(int64_t backend_window) const;
};

}  // namespace nagent
