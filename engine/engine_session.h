// One sequence's state on the embedded engine: the per-layer state (KV cache, conv and SSM
// state), the tokens it has consumed and the logits after the last one. Each agent turn only
// prefills the tokens past what the session already holds; snapshots copy the state (memory or
// disk) so a caller can restore or fork it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/language_model.h"

namespace nagent::engine {

struct SessionSnapshot {
  ModelState state;
  std::vector<int32_t> tokens;
  std::vector<float> last_logits;  // logits after tokens.back() (empty when no tokens)
};

class EngineSession {
 public:
  explicit EngineSession(LanguageModel& model);

  LanguageModel& model() const { return *model_; }
  const std::vector<int32_t>& tokens() const { return snap_.tokens; }
  const std::vector<float>& last_logits() const { return snap_.last_logits; }
  const ModelState& state() const { return snap_.state; }

  // Appends tokens (prefill) and returns the logits after the last one.
  const std::vector<float>& append(const int32_t* tokens, int64_t n);
  const std::vector<float>& append(const std::vector<int32_t>& tokens) {
    return append(tokens.data(), static_cast<int64_t>(tokens.size()));
  }

  // Appends one token to each of n sessions of the same model through one
  // LanguageModel::decode_batch call (the scheduler's decode step).
  static void append_batch(EngineSession* const* sessions, const int32_t* tokens, int64_t n);

  // Brings the session to exactly `tokens`: when the held tokens are a prefix, only the rest is
  // prefilled; otherwise (a recurrent state cannot be rewound) it restarts from `fallback` if
  // that snapshot is a prefix, else from empty. Returns how many tokens were prefilled.
  int64_t sync(const std::vector<int32_t>& tokens, const SessionSnapshot* fallback = nullptr);

  void reset();
  // A copy of the session (on the model's device when the model keeps its state there).
  SessionSnapshot snapshot() const { return snap_; }
  // A copy in host memory, e.g. to evict an idle session from the GPU; restore() takes it back.
  SessionSnapshot host_snapshot() const;
  void restore(SessionSnapshot s);
  EngineSession fork() const { return *this; }

  // Binary file with a fingerprint of the model's shapes; loading a file made for another
  // model (or a truncated one) throws std::runtime_error.
  void save(const std::string& path) const;
  void load(const std::string& path);

 private:
  LanguageModel* model_;
  SessionSnapshot snap_;
};

}  // namespace nagent::engine
