// Autoregressive generation on an engine session: sampling, stop tokens, stop strings, token
// limit, streamed text and per-token logprobs. The session is left holding the prompt and the
// generated tokens that were fed back (a stop token is not fed: the next turn's prompt brings
// it, and EngineSession::sync prefills only what is new).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine_session.h"
#include "engine/sampler.h"

namespace nagent {
class Tokenizer;
class StreamDecoder;
}

namespace nagent::engine {

struct GenerationOptions {
  int64_t max_tokens = 256;
  SamplerConfig sampling;
  std::vector<int32_t> stop_ids;          // e.g. <|im_end|>, </s>
  std::vector<std::string> stop_strings;  // need a tokenizer; matched on the decoded text
  bool logprobs = false;                  // log p(token) under the unmodified distribution
};

struct GenerationResult {
  std::vector<int32_t> tokens;   // generated ids, the stop token excluded
  std::vector<double> logprobs;  // one per token of `tokens` when requested
  std::string text;              // decoded text, cut before a matched stop string
  std::string finish_reason;     // "stop" (stop token or string) or "length"
  int32_t stop_token = -1;       // the stop id that ended generation, if any
  int64_t prompt_tokens = 0;
  int64_t prefilled_tokens = 0;  // prompt tokens the session did not already hold
};

// Called with each piece of text as soon as it cannot be part of a stop string; return false
// to stop early (finish_reason "stop").
using TextCallback = std::function<bool(const std::string& piece)>;

GenerationResult generate(EngineSession& session, const std::vector<int32_t>& prompt, const GenerationOptions& options,
                          const Tokenizer* tokenizer = nullptr, const TextCallback& on_text = {});

// The same generation one step at a time, for a caller that owns the model calls (the
// scheduler, engine/scheduler.h): step() takes the logits after the last fed token and returns
// the token to feed next, or nothing when generation has ended (then result() is final).
class GenerationStream {
 public:
  GenerationStream(const GenerationOptions& options, int64_t vocab, const Tokenizer* tokenizer = nullptr,
                   TextCallback on_text = {});
  ~GenerationStream();
  GenerationStream(GenerationStream&&) noexcept;

  // logits: [vocab], or null when there is nothing to condition on (an empty prompt).
  std::optional<int32_t> step(const float* logits);
  // Ends generation now (finish_reason "stop"), as when on_text returns false.
  void cancel();
  bool done() const { return done_; }
  const GenerationResult& result() const { return r_; }
  GenerationResult& result() { return r_; }

 private:
  bool emit_upto(size_t end);
  void finish();

  GenerationOptions options_;
  int64_t vocab_;
  TextCallback on_text_;
  Sampler sampler_;
  std::vector<std::string> stops_;
  std::unique_ptr<StreamDecoder> decoder_;
  GenerationResult r_;
  size_t emitted_ = 0;  // bytes of r_.text passed to on_text
  bool cut_ = false;    // the text ends at a stop string
  bool done_ = false;
};

}  // namespace nagent::engine
