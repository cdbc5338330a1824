#include "engine/local_backend.h"

#include <algorithm>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>

#include <nlohmann/json.hpp>

#include "engine/chat_template.h"
#include "engine/engine_session.h"
#include "engine/generation.h"
#include "engine/incremental_prompt.h"
#include "engine/model_loader.h"
#include "engine/scheduler.h"
#include "engine/tokenizer.h"

namespace nagent {

namespace {

using engine::LanguageModel;

// Routes streamed text to reasoning until </think> (or a <tool_call>, which Super sometimes
// emits without closing its reasoning), then to content. Bytes that may start one of those tags
// are held back until the next piece decides.
class ReasoningSplitter {
 public:
  explicit ReasoningSplitter(bool reasoning_first) : in_reasoning_(reasoning_first) {}

  ChatDelta push(const std::string& piece) {
    ChatDelta d;
    buf_ += piece;
    if (!in_reasoning_) {
      d.content = std::move(buf_);
      buf_.clear();
      content_ += d.content;
      return d;
    }
    const size_t end = buf_.find(kEnd), call = buf_.find(kCall);
    if (end != std::string::npos || call != std::string::npos) {
      const bool by_end = end != std::string::npos && (call == std::string::npos || end < call);
      const size_t at = by_end ? end : call;
      d.reasoning = buf_.substr(0, at);
      d.content = buf_.substr(by_end ? at + kEnd.size() : at);
      buf_.clear();
      in_reasoning_ = false;
    } else {
      size_t hold = 0;
      for (const std::string& tag : {kEnd, kCall})
        for (size_t n = std::min(tag.size() - 1, buf_.size()); n > hold; --n)
          if (buf_.compare(buf_.size() - n, n, tag, 0, n) == 0) {
            hold = n;
            break;
          }
      d.reasoning = buf_.substr(0, buf_.size() - hold);
      buf_.erase(0, buf_.size() - hold);
    }
    reasoning_ += d.reasoning;
    content_ += d.content;
    return d;
  }

  ChatDelta finish() {
    ChatDelta d;
    (in_reasoning_ ? d.reasoning : d.content) = buf_;
    (in_reasoning_ ? reasoning_ : content_) += buf_;
    buf_.clear();
    return d;
  }

  const std::string& reasoning() const { return reasoning_; }
  const std::string& content() const { return content_; }

 private:
  inline static const std::string kEnd = "</think>";
  inline static const std::string kCall = "<tool_call>";
  bool in_reasoning_;
  std::string buf_, reasoning_, content_;
};

// Hugging Face's generation_config.json: "do_sample": false is the model's word that it decodes
// greedily (nagent's small default model, trained on one narrow family, does); absent: sample.
bool model_decodes_greedily(const std::string& dir) {
  std::ifstream in(dir + "/generation_config.json");
  if (!in) return false;
  const auto j = nlohmann::json::parse(in, nullptr, false);
  return j.is_object() && j.contains("do_sample") && j["do_sample"].is_boolean() && !j["do_sample"].get<bool>();
}

class LocalBackend : public Backend {
 public:
  LocalBackend(std::unique_ptr<LanguageModel> model, Tokenizer tokenizer, std::string dir,
               engine::SchedulerOptions scheduling)
      : model_(std::move(model)),
        tokenizer_(std::move(tokenizer)),
        dir_(std::move(dir)),
        greedy_(model_decodes_greedily(dir_)),
        scheduler_(*model_, &tokenizer_, scheduling) {
    if (auto id = tokenizer_.token_to_id("<|im_end|>")) stop_ids_.push_back(*id);
    im_start_id_ = tokenizer_.token_to_id("<|im_start|>");
    for (int64_t id : model_->config().eos_token_ids) stop_ids_.push_back(static_cast<int32_t>(id));
    if (auto id = tokenizer_.eos_id()) stop_ids_.push_back(*id);
  }

  ChatReply chat(const ChatRequest& request, const DeltaCallback& on_delta) override {
    // Renders only what follows the request's stable prefix (the agent's append-only turns).
    std::string prompt;
    {
      std::lock_guard<std::mutex> lk(prompt_mu_);
      prompt = prompt_.render(request);
    }
    const std::vector<int32_t> ids = tokenizer_.encode(prompt);
    const int64_t window = context_window();
    if (static_cast<int64_t>(ids.size()) >= window)
      throw ContextOverflowError("prompt of " + std::to_string(ids.size()) + " tokens does not fit the model's context of " +
                                 std::to_string(window) + " tokens");
    // The state is saved just before the prompt's last turn header (`<|im_start|>assistant\n
    // <think>\n`): the next request re-renders this turn without its reasoning (the template
    // collapses it), so the history up to the header is what stays a prefix of the next prompt.
    // Saving after the whole prompt would make every later prompt miss it and re-prefill all.
    const auto header = im_start_id_ ? std::find(ids.rbegin(), ids.rend(), *im_start_id_) : ids.rend();
    engine::ScheduledRequest job;
    job.snapshot_at = header == ids.rend() ? static_cast<int64_t>(ids.size()) : static_cast<int64_t>(header.base() - 1 - ids.begin());
    job.prompt = ids;

    engine::GenerationOptions& g = job.options;
    g.max_tokens = std::min<int64_t>(request.sampling.max_tokens, window - static_cast<int64_t>(ids.size()));
    g.sampling.temperature = greedy_ ? 0.0 : request.sampling.temperature;
    g.sampling.top_p = request.sampling.top_p;
    g.sampling.seed = request.sampling.seed ? *request.sampling.seed : std::random_device{}();
    g.stop_ids = stop_ids_;
    const bool thinking = prompt.size() >= 8 && prompt.compare(prompt.size() - 8, 8, "<think>\n") == 0;
    ReasoningSplitter split(thinking);
    const engine::ScheduledResult done = scheduler_.generate(job, [&](const std::string& piece) {
      ChatDelta d = split.push(piece);
      if (on_delta && (!d.reasoning.empty() || !d.content.empty())) on_delta(d);
      return true;
    });
    const engine::GenerationResult& result = done.generation;
    const int64_t cached = done.cached_prompt_tokens;
    ChatDelta last = split.finish();
    if (on_delta && (!last.reasoning.empty() || !last.content.empty())) on_delta(last);

    ChatReply reply;
    reply.reasoning = split.reasoning();
    reply.content = split.content();
    reply.finish_reason = result.finish_reason;
    reply.usage.prompt_tokens = static_cast<int64_t>(ids.size());
    reply.usage.cached_prompt_tokens = cached;
    reply.usage.completion_tokens = static_cast<int64_t>(result.tokens.size()) + (result.stop_token >= 0 ? 1 : 0);
    reply.usage.reported = true;
    reply.model = dir_;
    return reply;
  }

  std::string describe() const override {
    const auto& c = model_->config();
    return "local " + dir_ + " (NemotronH " + std::to_string(c.num_layers()) + " layers, " +
           (c.torch_dtype.empty() ? std::string("?") : c.torch_dtype) + ", " + model_->device_description() + (greedy_ ? ", greedy" : "") + ")";
  }

  int64_t context_window() const override { return model_->config().max_position_embeddings; }

  std::optional<int64_t> count_tokens(const std::string& text) const override {
    return static_cast<int64_t>(tokenizer_.encode(text).size());
  }

 private:
  std::unique_ptr<LanguageModel> model_;
  Tokenizer tokenizer_;
  std::string dir_;
  bool greedy_;
  std::mutex prompt_mu_;  // guards prompt_ (rendering is cheap next to prefill)
  IncrementalPrompt prompt_;
  std::vector<int32_t> stop_ids_;
  std::optional<int32_t> im_start_id_;
  engine::Scheduler scheduler_;  // last: its thread stops before the members it reads go
};

}  // namespace

std::unique_ptr<Backend> make_local_backend(const LocalBackendOptions& options) {
  if (options.model_dir.empty())
    throw BackendError("--backend local needs a model directory: pass --model DIR (config.json, safetensors, tokenizer.json)");
  try {
    engine::EngineOptions eo;
    eo.threads = options.threads;
    eo.tensor_parallel = options.tensor_parallel;
    auto model = engine::load_language_model(options.model_dir, options.device, eo);
    Tokenizer tok = Tokenizer::from_model_dir(options.model_dir);
    engine::SchedulerOptions so;
    if (options.pool_bytes > 0) so.pool_bytes = options.pool_bytes;
    if (options.prefill_chunk > 0) so.prefill_chunk = options.prefill_chunk;
    return std::make_unique<LocalBackend>(std::move(model), std::move(tok), options.model_dir, so);
  } catch (const BackendError&) {
    throw;
  } catch (const std::exception& e) {
    throw BackendError(std::string("cannot load the local model: ") + e.what());
  }
}

}  // namespace nagent
