#include "engine/generation.h"

#include <algorithm>

#include "engine/tokenizer.h"

namespace nagent::engine {

namespace {

// Length of the longest suffix of `text` that is a proper prefix of some stop string: those
// bytes must be held back from streaming until the next piece decides.
size_t held_back(const std::string& text, const std::vector<std::string>& stops) {
  size_t hold = 0;
  for (const auto& s : stops)
    for (size_t n = std::min(s.size() - 1, text.size()); n > hold; --n)
      if (text.compare(text.size() - n, n, s, 0, n) == 0) {
        hold = n;
        break;
      }
  return hold;
}

}  // namespace

GenerationStream::GenerationStream(const GenerationOptions& options, int64_t vocab, const Tokenizer* tokenizer,
                                   TextCallback on_text)
    : options_(options), vocab_(vocab), on_text_(std::move(on_text)), sampler_(options.sampling) {
  for (const auto& s : options_.stop_strings)
    if (!s.empty()) stops_.push_back(s);
  if (tokenizer) decoder_ = std::make_unique<StreamDecoder>(*tokenizer);
  r_.finish_reason = "length";
  if (options_.max_tokens <= 0) finish();
}

GenerationStream::~GenerationStream() = default;
GenerationStream::GenerationStream(GenerationStream&&) noexcept = default;

bool GenerationStream::emit_upto(size_t end) {
  if (end <= emitted_) return true;
  const bool go_on = !on_text_ || on_text_(r_.text.substr(emitted_, end - emitted_));
  emitted_ = end;
  return go_on;
}

void GenerationStream::finish() {
  if (done_) return;
  done_ = true;
  if (decoder_ && !cut_) {  // flush a character still held back by the decoder
    r_.text += decoder_->finish();
    emit_upto(r_.text.size());
  }
}

void GenerationStream::cancel() {
  if (done_) return;
  r_.finish_reason = "stop";
  finish();
}

std::optional<int32_t> GenerationStream::step(const float* logits) {
  if (done_) return std::nullopt;
  if (!logits) {  // empty prompt: nothing to condition on
    finish();
    return std::nullopt;
  }
  const int32_t tok = sampler_.sample(logits, vocab_);
  if (std::find(options_.stop_ids.begin(), options_.stop_ids.end(), tok) != options_.stop_ids.end()) {
    r_.finish_reason = "stop";
    r_.stop_token = tok;
    finish();
    return std::nullopt;
  }
  r_.tokens.push_back(tok);
  if (options_.logprobs) r_.logprobs.push_back(token_logprob(logits, vocab_, tok));
  bool stop = false;
  if (decoder_) {
    r_.text += decoder_->push(tok);
    size_t at = std::string::npos;
    for (const auto& s : stops_) at = std::min(at, r_.text.find(s, emitted_));
    if (at != std::string::npos) {
      r_.text.resize(at);
      cut_ = true;
      r_.finish_reason = "stop";
      stop = true;
    }
    if (!emit_upto(stop ? r_.text.size() : r_.text.size() - held_back(r_.text, stops_)) && !stop) {
      r_.finish_reason = "stop";
      stop = true;
    }
  }
  // The last token of a length-limited run is never fed: nothing would read its logits.
  if (stop || static_cast<int64_t>(r_.tokens.size()) >= options_.max_tokens) {
    finish();
    return std::nullopt;
  }
  return tok;
}

GenerationResult generate(EngineSession& session, const std::vector<int32_t>& prompt, const GenerationOptions& options,
                          const Tokenizer* tokenizer, const TextCallback& on_text) {
  const int64_t prefilled = session.sync(prompt);
  GenerationStream stream(options, session.model().config().vocab_size, tokenizer, on_text);
  for (;;) {
    const std::vector<float>& logits = session.last_logits();
    const std::optional<int32_t> tok = stream.step(logits.empty() ? nullptr : logits.data());
    if (!tok) break;
    session.append(&*tok, 1);
  }
  GenerationResult r = std::move(stream.result());
  r.prompt_tokens = static_cast<int64_t>(prompt.size());
  r.prefilled_tokens = prefilled;
  return r;
}

}  // namespace nagent::engine
