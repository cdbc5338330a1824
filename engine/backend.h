// Backend: the one interface between the agent and a model, implemented by the client for
// OpenAI-compatible servers and by the embedded NemotronH engine.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "engine/chat.h"

namespace nagent {

using DeltaCallback = std::function<void(const ChatDelta&)>;

// Thrown when a backend cannot produce a reply at all (server unreachable after retries,
// model failed to load, ...). The message is one line, saying what and how to fix it.
struct BackendError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The request no longer fits the model's context window: the caller can shorten the
// conversation and try again.
struct ContextOverflowError : BackendError {
  using BackendError::BackendError;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Runs one model turn. on_delta (may be empty) sees streamed pieces as they arrive.
  virtual ChatReply chat(const ChatRequest& request, const DeltaCallback& on_delta) = 0;
  // Short human-readable description ("openai http://host:8000/v1 model=...").
  virtual std::string describe() const = 0;
  // Context window in tokens, if the backend knows it (0 = unknown).
  virtual int64_t context_window() const { return 0; }
  // Exact token count of text with the model's tokenizer, where the backend has it (the
  // embedded engine); nullopt: the caller estimates (a remote server reports usage only).
  virtual std::optional<int64_t> count_tokens(const std::string& text) const { return std::nullopt; }
};

}  // namespace nagent
