// Backend for OpenAI-compatible model servers: vLLM, SGLang, TensorRT-LLM (trtllm-serve),
// NVIDIA NIM, OpenRouter. Streams POST {endpoint}/chat/completions (SSE), retries what is
// safe to retry, and turns every failure into a one-line BackendError saying how to fix it.
//
//   OpenAIClient client({.endpoint = "http://127.0.0.1:8000/v1", .model = "nemotron-3-ultra"});
//   ChatReply reply = client.chat(request, [](const ChatDelta& d) { show(d); });
//
// Retries (exponential backoff, full jitter): connection failures, a stream cut before it
// completed, HTTP 408/409/429/5xx (Retry-After honoured). A chat turn has no side effect on
// the server, so a stream cut after text was shown is retried too; on_delta then receives
// a ChatDelta with restarted = true. Other 4xx fail at once with the server's message
// (ContextOverflowError when the prompt is over the model's window).
//
// Servers without a tool parser: vLLM refuses tool_choice "auto" unless started with
// --enable-auto-tool-choice; the client then switches to tool_choice "none" (tools stay in
// the prompt, calls come back as text in content, which the agent parses) and remembers it.
#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include "engine/backend.h"
#include "engine/retry.h"

namespace httplib {
enum class Error;
}

namespace nagent {

struct OpenAIClientConfig {
  std::string endpoint = "http://127.0.0.1:8000/v1";  // API base; http or https
  std::string model;    // empty: the one model GET {endpoint}/models lists
  std::string api_key;  // sent as "Authorization: Bearer KEY" when not empty
  std::chrono::milliseconds connect_timeout{10'000};
  // Longest silence between two reads of a reply. Generous: a model may think (or prefill
  // a long prompt) for minutes before its first token, and some servers send no keep-alive.
  std::chrono::milliseconds read_timeout{600'000};
  RetryPolicy retry;
  int64_t context_window = 0;        // 0: from the server's /models entry (max_model_len)
  std::string tool_choice = "auto";  // sent with tools; see the note above
  json extra_body = json::object();  // merged into every request body (provider-specific fields)
};

class OpenAIClient : public Backend {
 public:
  // Validates the endpoint (std::invalid_argument naming what is wrong) and asks the
  // server's /models for the model name when config.model is empty (BackendError if that
  // fails) and for the context window (best effort, one attempt; asked again after the
  // first reply if the server was not up yet).
  explicit OpenAIClient(OpenAIClientConfig config);

  // Safe to call from several threads at once (each call uses its own connection).
  ChatReply chat(const ChatRequest& request, const DeltaCallback& on_delta) override;
  std::string describe() const override;
  int64_t context_window() const override { return context_window_; }

  const std::string& model() const { return config_.model; }
  // The JSON body chat() posts for a request.
  json request_body(const ChatRequest& request) const;

 private:
  struct Outcome;
  Outcome attempt_chat(const std::string& body, const DeltaCallback& on_delta) const;
  Outcome attempt_models() const;
  template <class Attempt>
  Outcome with_retries(const Attempt& attempt, const DeltaCallback& on_delta) const;
  // The error line of a 4xx, with a hint; list_models: name the served models when the
  // message says the model is unknown (costs one GET /models).
  std::string rejection(int status, const std::string& message, bool list_models) const;
  std::string served_models_hint() const;
  // Reads the context window from GET /models (one attempt); false: no answer, ask later.
  bool look_up_context_window();
  // A failed exchange in words a user can act on: retry (connection trouble) or fail (TLS
  // setup, unknown host, read timeout).
  Outcome transport_failure(httplib::Error error, bool answered, bool timed_out) const;
  // An error object in a 200 reply or stream (text: as sent); retried when its code says so.
  Outcome error_in_reply(const json& error, const std::string& text) const;

  OpenAIClientConfig config_;
  std::string origin_;     // "https://host:port": what httplib connects to
  std::string host_;       // "host", for error messages
  std::string base_path_;  // "/v1": prefixed to every request path
  // Read by context_window() while chat() may fill it in on another thread.
  std::atomic<int64_t> context_window_{0};
  std::atomic<bool> window_asked_{false};  // /models answered (or the window was configured)
  std::atomic<bool> no_tool_parser_{false};  // the server refused tool_choice "auto"
};

}  // namespace nagent
