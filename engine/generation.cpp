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

GenerationResult generate(EngineSession& session, const std::vector<int32_t>& prompt, const GenerationOptions& options,
                          const Tokenizer* tokenizer, const TextCallback& on_text) {
  GenerationResult r;
  r.prompt_tokens = static_cast<int64_t>(prompt.size());
  r.prefilled_tokens = session.sync(prompt);
  const int64_t V = session.model().config().vocab_size;
  Sampler sampler(options.sampling);
  std::vector<std::string> stops;
  for (const auto& s : options.stop_strings)
    if (!s.empty()) stops.push_back(s);
  std::unique_ptr<StreamDecoder> decoder;
  if (tokenizer) decoder = std::make_unique<StreamDecoder>(*tokenizer);
  size_t emitted = 0;  // bytes of r.text passed to on_text

  auto emit_upto = [&](size_t end) {
    if (end <= emitted) return true;
    const bool go_on = !on_text || on_text(r.text.substr(emitted, end - emitted));
    emitted = end;
    return go_on;
  };

  bool cut = false;  // the text ends at a stop string
  r.finish_reason = "length";
  for (int64_t i = 0; i < options.max_tokens; ++i) {
    const std::vector<float>& logits = session.last_logits();
    if (logits.empty()) break;  // empty prompt: nothing to condition on
    const int32_t tok = sampler.sample(logits.data(), V);
    if (std::find(options.stop_ids.begin(), options.stop_ids.end(), tok) != options.stop_ids.end()) {
      r.finish_reason = "stop";
      r.stop_token = tok;
      break;
    }
    r.tokens.push_back(tok);
    if (options.logprobs) r.logprobs.push_back(token_logprob(logits.data(), V, tok));
    bool stop = false;
    if (decoder) {
      r.text += decoder->push(tok);
      size_t at = std::string::npos;
      for (const auto& s : stops) at = std::min(at, r.text.find(s, emitted));
      if (at != std::string::npos) {
        r.text.resize(at);
        cut = true;
        r.finish_reason = "stop";
        stop = true;
      }
      if (!emit_upto(stop ? r.text.size() : r.text.size() - held_back(r.text, stops)) && !stop) {
        r.finish_reason = "stop";
        stop = true;
      }
    }
    if (stop || i + 1 == options.max_tokens) break;
    session.append(&tok, 1);
  }
  if (decoder && !cut) {  // flush a character still held back by the decoder
    r.text += decoder->finish();
    emit_upto(r.text.size());
  }
  return r;
}

}  // namespace nagent::engine
