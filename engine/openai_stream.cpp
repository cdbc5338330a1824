#include "engine/openai_stream.h"

namespace nagent {

namespace {

// A string field that servers may send as null or leave out.
std::string text_of(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int64_t integer_of(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_number() ? it->get<int64_t>() : 0;
}

// vLLM's reasoning parsers emit "reasoning" (newer) or "reasoning_content" (older, and
// SGLang); some versions send both with the same text, so take one, never their sum.
std::string reasoning_of(const json& object) {
  std::string text = text_of(object, "reasoning_content");
  return text.empty() ? text_of(object, "reasoning") : text;
}

}  // namespace

ChatDelta ReplyAssembler::add_chunk(const json& chunk) {
  ChatDelta delta;
  if (!chunk.is_object()) return delta;
  if (reply_.model.empty()) reply_.model = text_of(chunk, "model");  // every chunk repeats it
  if (auto usage = chunk.find("usage"); usage != chunk.end()) add_usage(*usage);

  auto choices = chunk.find("choices");
  if (choices == chunk.end() || !choices->is_array() || choices->empty()) return delta;
  const json& choice = (*choices)[0];
  if (!choice.is_object()) return delta;
  if (auto d = choice.find("delta"); d != choice.end() && d->is_object()) {
    delta.reasoning = reasoning_of(*d);
    delta.content = text_of(*d, "content");
    reply_.reasoning += delta.reasoning;
    reply_.content += delta.content;
    if (auto calls = d->find("tool_calls"); calls != d->end() && calls->is_array())
      for (const auto& call : *calls) add_tool_call_delta(call);
  }
  if (std::string reason = text_of(choice, "finish_reason"); !reason.empty()) reply_.finish_reason = std::move(reason);
  return delta;
}

size_t ReplyAssembler::slot_for(const json& delta, const std::string& id) {
  auto other_call = [&](size_t slot) { return !id.empty() && !calls_[slot].id.empty() && calls_[slot].id != id; };
  auto index = delta.find("index");
  if (index == delta.end() || !index->is_number_integer()) {
    // Without an index (some servers omit it) a delta continues the last call unless it
    // carries a new id.
    if (calls_.empty() || other_call(last_slot_)) {
      calls_.emplace_back();
      last_slot_ = calls_.size() - 1;
    }
    return last_slot_;
  }
  auto it = slot_of_index_.find(index->get<int64_t>());
  // A known index with a different id is a new call (servers that number every call 0).
  if (it == slot_of_index_.end() || other_call(it->second)) {
    calls_.emplace_back();
    it = slot_of_index_.insert_or_assign(index->get<int64_t>(), calls_.size() - 1).first;
  }
  return last_slot_ = it->second;
}

void ReplyAssembler::add_tool_call_delta(const json& delta) {
  if (!delta.is_object()) return;
  const std::string id = text_of(delta, "id");
  PendingCall& call = calls_[slot_for(delta, id)];
  if (!id.empty()) call.id = id;
  if (auto fn = delta.find("function"); fn != delta.end() && fn->is_object()) {
    // Names come whole in one delta; a server repeating it must not double it.
    if (std::string name = text_of(*fn, "name"); !name.empty() && name != call.name) call.name += name;
    if (auto args = fn->find("arguments"); args != fn->end()) {
      if (args->is_string()) call.arguments += args->get<std::string>();
      else if (args->is_object()) call.arguments += args->dump();
    }
  }
}

void ReplyAssembler::add_usage(const json& usage) {
  if (!usage.is_object()) return;
  // Servers that report usage on every chunk send running totals: the last one wins.
  reply_.usage.prompt_tokens = integer_of(usage, "prompt_tokens");
  reply_.usage.completion_tokens = integer_of(usage, "completion_tokens");
  // vLLM and SGLang (with prefix caching on) report the cached share as OpenAI does.
  if (auto details = usage.find("prompt_tokens_details"); details != usage.end() && details->is_object())
    reply_.usage.cached_prompt_tokens = integer_of(*details, "cached_tokens");
  reply_.usage.reported = true;
}

void ReplyAssembler::add_completion(const json& body) {
  if (std::string model = text_of(body, "model"); !model.empty()) reply_.model = std::move(model);
  if (auto usage = body.find("usage"); usage != body.end()) add_usage(*usage);
  auto choices = body.find("choices");
  if (choices == body.end() || !choices->is_array() || choices->empty() || !(*choices)[0].is_object()) return;
  const json& choice = (*choices)[0];
  reply_.finish_reason = text_of(choice, "finish_reason");
  auto message = choice.find("message");
  if (message == choice.end() || !message->is_object()) return;
  reply_.reasoning += reasoning_of(*message);
  reply_.content += text_of(*message, "content");
  if (auto calls = message->find("tool_calls"); calls != message->end() && calls->is_array()) {
    for (const auto& call : *calls) {
      if (!call.is_object()) continue;
      PendingCall pending{text_of(call, "id"), "", ""};
      if (auto fn = call.find("function"); fn != call.end() && fn->is_object()) {
        pending.name = text_of(*fn, "name");
        if (auto args = fn->find("arguments"); args != fn->end())
          pending.arguments = args->is_string() ? args->get<std::string>() : args->dump();
      }
      calls_.push_back(std::move(pending));
    }
  }
}

ChatReply ReplyAssembler::finish() {
  for (size_t i = 0; i < calls_.size(); ++i) {
    PendingCall& call = calls_[i];
    // The agent answers every call by id; a server that sent none still needs one.
    std::string id = call.id.empty() ? "call_" + std::to_string(i) : std::move(call.id);
    reply_.tool_calls.push_back(tool_call_from_text(std::move(id), std::move(call.name), call.arguments));
  }
  calls_.clear();
  slot_of_index_.clear();
  return std::move(reply_);
}

ToolCall tool_call_from_text(std::string id, std::string name, const std::string& arguments) {
  ToolCall call{std::move(id), std::move(name), json::object(), {}};
  const bool blank = arguments.find_first_not_of(" \t\r\n") == std::string::npos;
  if (blank) return call;  // a call without parameters
  json parsed = json::parse(arguments, nullptr, false);
  // Some servers encode the arguments object twice ("\"{\\\"path\\\": ...}\"").
  if (!parsed.is_discarded() && parsed.is_string()) parsed = json::parse(parsed.get<std::string>(), nullptr, false);
  if (!parsed.is_discarded() && parsed.is_object()) {
    call.arguments = std::move(parsed);
  } else {
    call.raw_arguments = arguments;
  }
  return call;
}

}  // namespace nagent
