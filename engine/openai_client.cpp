#include "engine/openai_client.h"

#include <httplib.h>
#include <netdb.h>

#include <algorithm>
#include <optional>
#include <regex>
#include <stdexcept>
#include <thread>

#include "engine/openai_stream.h"
#include "engine/sse_reader.h"
#include "nagent/version.h"

namespace nagent {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr size_t kMaxReplyBytes = 256u << 20;  // a non-streamed body; more is not a chat reply
constexpr size_t kMaxErrorBytes = 64u << 10;   // of an error body, enough for any message

std::string seconds_text(milliseconds ms) {
  const int64_t tenths = (ms.count() + 50) / 100;
  return std::to_string(tenths / 10) + (tenths % 10 ? "." + std::to_string(tenths % 10) : "") + " s";
}

// One line of at most `limit` bytes: error messages end up in a terminal and in logs
// (control characters, escape sequences included, become spaces).
std::string one_line(std::string text, size_t limit = 400) {
  for (char& c : text)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  text.erase(std::unique(text.begin(), text.end(), [](char a, char b) { return a == ' ' && b == ' '; }), text.end());
  while (!text.empty() && (text.back() == ' ' || text.back() == '.')) text.pop_back();
  while (!text.empty() && text.front() == ' ') text.erase(text.begin());
  if (text.size() > limit) {
    while (limit > 0 && (static_cast<unsigned char>(text[limit]) & 0xC0) == 0x80) --limit;  // whole UTF-8 characters
    text = text.substr(0, limit) + "...";
  }
  return text;
}

// The message of an error body in any of the shapes servers use: OpenAI {"error":
// {"message"}}, vLLM {"object":"error","message"}, FastAPI {"detail": ...}, or plain text.
std::string error_message(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_object()) {
    const json* e = &j;
    if (auto it = j.find("error"); it != j.end()) {
      if (it->is_string()) return one_line(it->get<std::string>());
      if (it->is_object()) e = &*it;
    }
    for (const char* key : {"message", "detail", "msg"}) {
      auto it = e->find(key);
      if (it == e->end()) continue;
      return one_line(it->is_string() ? it->get<std::string>() : it->dump());
    }
    return one_line(j.dump());
  }
  return body.empty() ? "(no message)" : one_line(body);
}

int error_code(const json& error) {
  const json& e = error.contains("error") && error["error"].is_object() ? error["error"] : error;
  auto it = e.find("code");
  if (it == e.end()) return 0;
  if (it->is_number_integer()) return it->get<int>();
  if (it->is_string()) return std::atoi(it->get<std::string>().c_str());
  return 0;
}

// {"error": ...} (OpenAI) or {"object": "error", ...} (vLLM), also inside a 200 stream.
bool is_error(const json& j) {
  if (!j.is_object()) return false;
  auto error = j.find("error");  // some proxies send "error": null on every reply
  auto object = j.find("object");
  return (error != j.end() && !error->is_null()) || (object != j.end() && *object == "error");
}

bool contains_any(const std::string& text, std::initializer_list<const char*> needles) {
  std::string lower = text;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* n : needles)
    if (lower.find(n) != std::string::npos) return true;
  return false;
}

bool resolves(const std::string& host) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (found) freeaddrinfo(found);
  // Only a definite "no such host" counts; a resolver hiccup (EAI_AGAIN) is retried.
  return rc != EAI_NONAME && rc != EAI_NODATA && rc != EAI_FAIL;
}

// How vLLM, SGLang, TensorRT-LLM and hosted APIs word "the prompt is over the window".
bool is_context_overflow(const std::string& message) {
  return contains_any(message, {"context length", "context window", "maximum context", "max_model_len", "max_seq_len",
                                "prompt is too long", "too many tokens", "longer than the model"});
}

bool retryable_status(int status) { return status == 408 || status == 409 || status == 429 || status >= 500; }

int64_t context_window_of(const json& model) {
  for (const char* key : {"max_model_len", "context_length", "context_window", "max_context_length"}) {
    auto it = model.find(key);
    if (it != model.end() && it->is_number_integer() && it->get<int64_t>() > 0) return it->get<int64_t>();
  }
  return 0;
}

}  // namespace

struct OpenAIClient::Outcome {
  enum Kind { Ok, Retry, Fail, NoToolParser } kind = Ok;
  ChatReply reply;           // Ok, chat
  json body;                 // Ok, /models
  std::string message;       // Retry: the cause; Fail: the whole error line
  bool unreachable = false;  // Retry: no HTTP answer at all (vs. an HTTP error status)
  std::optional<milliseconds> retry_after;
  bool delivered = false;    // text of this attempt reached on_delta
  bool context_overflow = false;  // Fail: throw ContextOverflowError

  static Outcome ok(ChatReply reply) {
    Outcome o;
    o.reply = std::move(reply);
    return o;
  }
  static Outcome retry(std::string cause, bool unreachable) {
    Outcome o;
    o.kind = Retry;
    o.message = std::move(cause);
    o.unreachable = unreachable;
    return o;
  }
  static Outcome fail(std::string message) {
    Outcome o;
    o.kind = Fail;
    o.message = std::move(message);
    return o;
  }
};

OpenAIClient::OpenAIClient(OpenAIClientConfig config) : config_(std::move(config)) {
  static const std::regex url(R"(^(https?)://([^/?#\s]+)(/[^?#\s]*)?$)", std::regex::icase);
  std::smatch m;
  if (!std::regex_match(config_.endpoint, m, url))
    throw std::invalid_argument("endpoint '" + config_.endpoint +
                                "' is not an http(s) URL of an OpenAI-compatible API, like http://127.0.0.1:8000/v1");
  std::string scheme = m[1].str();
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char c) { return std::tolower(c); });
  origin_ = scheme + "://" + m[2].str();
  static const std::regex authority(R"(^(\[[^\]]+\]|[^:]+)(:\d+)?$)");
  std::smatch a;
  const std::string authority_text = m[2].str();
  if (!std::regex_match(authority_text, a, authority))
    throw std::invalid_argument("endpoint '" + config_.endpoint + "' has a malformed host:port");
  host_ = a[1].str();
  if (host_.front() == '[') host_ = host_.substr(1, host_.size() - 2);
  base_path_ = m[3].str();
  while (!base_path_.empty() && base_path_.back() == '/') base_path_.pop_back();
  if (base_path_.size() >= 17 && base_path_.ends_with("/chat/completions"))
    throw std::invalid_argument("endpoint '" + config_.endpoint + "' should be the API base without /chat/completions, like " +
                                origin_ + base_path_.substr(0, base_path_.size() - 17));
  config_.endpoint = origin_ + base_path_;
  if (config_.retry.max_retries < 0) config_.retry.max_retries = 0;
  context_window_ = config_.context_window;
  window_asked_ = context_window_ > 0;
  if (config_.model.empty()) {
    const json models = with_retries([&] { return attempt_models(); }, nullptr).body;
    std::vector<const json*> bases;  // vLLM also lists LoRA adapters, with their base as "parent"
    for (const auto& entry : models["data"])
      if (entry.is_object() && entry.value("id", "") != "" && (!entry.contains("parent") || entry["parent"].is_null()))
        bases.push_back(&entry);
    if (bases.size() != 1) {
      std::string names;
      for (size_t i = 0; i < bases.size() && i < 5; ++i) names += (i ? ", " : "") + bases[i]->value("id", "");
      throw BackendError("model server at " + config_.endpoint +
                         (bases.empty() ? " lists no model" : " serves " + std::to_string(bases.size()) + " models (" + names +
                                                                 (bases.size() > 5 ? ", ..." : "") + ")") +
                         "; pass --model NAME");
    }
    config_.model = bases[0]->value("id", "");
    if (context_window_ == 0) context_window_ = context_window_of(*bases[0]);
    window_asked_ = true;
  } else if (!window_asked_) {
    window_asked_ = look_up_context_window();
  }
}

bool OpenAIClient::look_up_context_window() {
  Outcome o = attempt_models();
  if (o.kind == Outcome::Retry && o.unreachable) return false;
  // Servers without /models (or without a length in it) leave the window unknown.
  if (o.kind == Outcome::Ok)
    for (const auto& entry : o.body["data"])
      if (entry.is_object() && entry.value("id", "") == config_.model) context_window_ = context_window_of(entry);
  return true;
}

std::string OpenAIClient::describe() const {
  return "openai " + config_.endpoint + " model=" + config_.model + (no_tool_parser_ ? " tool_choice=none" : "");
}

json OpenAIClient::request_body(const ChatRequest& request) const {
  json messages = json::array();
  for (const auto& m : request.messages) messages.push_back(to_json(m));
  json body = {{"model", config_.model}, {"messages", std::move(messages)}};
  if (!request.tools.empty()) {
    body["tools"] = request.tools;
    body["tool_choice"] = no_tool_parser_ ? "none" : config_.tool_choice;
  }
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  body["temperature"] = request.sampling.temperature;
  body["top_p"] = request.sampling.top_p;
  if (request.sampling.max_tokens > 0) body["max_tokens"] = request.sampling.max_tokens;
  if (request.sampling.seed) body["seed"] = *request.sampling.seed;
  json kwargs = {{"enable_thinking", request.enable_thinking}};
  if (request.extra_template_kwargs.is_object())
    for (const auto& [key, value] : request.extra_template_kwargs.items()) kwargs[key] = value;
  body["chat_template_kwargs"] = std::move(kwargs);
  if (config_.extra_body.is_object())
    for (const auto& [key, value] : config_.extra_body.items()) body[key] = value;
  return body;
}

ChatReply OpenAIClient::chat(const ChatRequest& request, const DeltaCallback& on_delta) {
  // Tool output can hold any bytes (a binary file, a program's garbage): invalid UTF-8 is
  // replaced (U+FFFD) rather than failing the turn, as JSON text must be UTF-8.
  auto body_text = [&] { return request_body(request).dump(-1, ' ', false, json::error_handler_t::replace); };
  std::string body = body_text();
  auto attempt = [&] {
    Outcome o = attempt_chat(body, on_delta);
    if (o.kind == Outcome::NoToolParser) {
      no_tool_parser_ = true;  // from now on tool_choice "none"; this attempt goes again
      body = body_text();
      o = attempt_chat(body, on_delta);
    }
    return o;
  };
  ChatReply reply = with_retries(attempt, on_delta).reply;
  if (reply.model.empty()) reply.model = config_.model;
  // The server was down when this client was made (started together with it): ask now.
  if (!window_asked_) window_asked_ = look_up_context_window();
  return reply;
}

template <class Attempt>
OpenAIClient::Outcome OpenAIClient::with_retries(const Attempt& attempt, const DeltaCallback& on_delta) const {
  const int attempts = 1 + config_.retry.max_retries;
  for (int n = 1;; ++n) {
    Outcome o = attempt();
    if (o.kind == Outcome::Ok) return o;
    if (o.kind != Outcome::Retry) {
      if (o.context_overflow) throw ContextOverflowError(o.message);
      throw BackendError(o.message);
    }
    if (n >= attempts) {
      if (o.unreachable)
        throw BackendError("model server at " + config_.endpoint + " unreachable after " + std::to_string(n) +
                           " attempts: " + o.message + "; start it or pass --endpoint");
      throw BackendError("model server at " + config_.endpoint + " failed " + std::to_string(n) +
                         " attempts, last: " + o.message);
    }
    milliseconds delay = backoff_delay(config_.retry, n - 1);
    if (o.retry_after) {
      if (*o.retry_after > config_.retry.max_retry_after)
        throw BackendError("model server at " + config_.endpoint + " asks to retry after " + seconds_text(*o.retry_after) +
                           " (" + o.message + "); try again later");
      delay = std::max(delay, *o.retry_after);
    }
    if (o.delivered && on_delta) on_delta(ChatDelta{{}, {}, true});
    std::this_thread::sleep_for(delay);
  }
}

OpenAIClient::Outcome OpenAIClient::attempt_chat(const std::string& body, const DeltaCallback& on_delta) const {
  httplib::Client http(origin_);
  http.set_connection_timeout(config_.connect_timeout);
  http.set_read_timeout(config_.read_timeout);
  http.set_write_timeout(config_.read_timeout);
  // A fresh connection per turn: a turn takes seconds, a connect well under a millisecond
  // locally, and a kept-alive socket goes stale while tools run.
  http.set_keep_alive(false);

  httplib::Request req;
  req.method = "POST";
  req.path = base_path_ + "/chat/completions";
  req.headers = {{"Accept", "text/event-stream, application/json"},
                 {"Content-Type", "application/json"},
                 {"User-Agent", "nagent/" NAGENT_VERSION}};
  if (!config_.api_key.empty()) req.headers.emplace("Authorization", "Bearer " + config_.api_key);
  req.body = body;

  int status = 0;
  std::string content_type, retry_after, location;
  req.response_handler = [&](const httplib::Response& res) {
    status = res.status;
    content_type = res.get_header_value("Content-Type");
    retry_after = res.get_header_value("Retry-After");
    location = res.get_header_value("Location");
    return true;
  };

  enum class Mode { Unknown, Sse, Whole } mode = Mode::Unknown;
  std::string whole;  // a non-streamed or error body
  SseReader sse;
  ReplyAssembler assembler;
  bool done = false, delivered = false;
  std::optional<Outcome> stop;  // why reading stopped early
  auto last_read = Clock::now();

  auto on_event = [&](const SseEvent& event) {
    if (event.data == "[DONE]") {
      done = true;
      return true;
    }
    json chunk = json::parse(event.data, nullptr, false);
    if (chunk.is_discarded()) {
      stop = Outcome::fail("model server at " + config_.endpoint + " sent a malformed stream event: " + one_line(event.data, 120));
      return false;
    }
    if (event.event == "error" || is_error(chunk)) {
      stop = error_in_reply(chunk, event.data);
      return false;
    }
    ChatDelta delta = assembler.add_chunk(chunk);
    if (on_delta && (!delta.reasoning.empty() || !delta.content.empty())) {
      on_delta(delta);
      delivered = true;
    }
    return true;
  };

  req.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
    last_read = Clock::now();
    if (status != 200) {
      whole.append(data, std::min(size, kMaxErrorBytes - std::min(kMaxErrorBytes, whole.size())));
      return true;
    }
    if (mode == Mode::Unknown) {
      // Servers that ignore stream: true answer application/json; trust the body's first
      // byte when the Content-Type says neither.
      const std::string_view head(data, size);
      const size_t first = head.find_first_not_of(" \t\r\n");
      if (first == std::string_view::npos) return true;
      const bool json_type = content_type.find("json") != std::string::npos;
      const bool sse_type = content_type.find("event-stream") != std::string::npos;
      mode = json_type || (!sse_type && head[first] == '{') ? Mode::Whole : Mode::Sse;
    }
    if (mode == Mode::Whole) {
      if (whole.size() + size > kMaxReplyBytes) {
        stop = Outcome::fail("model server at " + config_.endpoint + " sent a reply over 256 MiB");
        return false;
      }
      whole.append(data, size);
      return true;
    }
    for (const auto& event : sse.feed({data, size}))
      if (!on_event(event)) return false;
    return true;
  };

  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  const bool sent = http.send(req, res, error);
  if (stop) {
    stop->delivered = delivered;
    return *stop;
  }

  if (!sent) {
    // Cut after the reply was complete (only usage or [DONE] missing): keep it rather
    // than generate it again.
    if (done || assembler.finished()) return Outcome::ok(assembler.finish());
    const bool timed_out = Clock::now() - last_read >= config_.read_timeout - milliseconds(50);
    Outcome o = transport_failure(error, status != 0, timed_out);
    o.delivered = delivered;
    return o;
  }

  if (status >= 300 && status < 400 && !location.empty()) {
    // Not followed: a POST must not silently change its target (http -> https, another host).
    std::string base = location;
    if (base.ends_with("/chat/completions")) base.resize(base.size() - 17);
    return Outcome::fail("model server at " + config_.endpoint + " redirects to " + one_line(location) +
                         "; pass --endpoint " + one_line(base));
  }
  if (status != 200) {
    const std::string message = error_message(whole);
    if (retryable_status(status)) {
      Outcome o = Outcome::retry("HTTP " + std::to_string(status) + ": " + message, false);
      o.retry_after = parse_retry_after(retry_after);
      return o;
    }
    if (status == 400 && contains_any(message, {"enable-auto-tool-choice", "tool-call-parser"}) && !no_tool_parser_ &&
        body.find("\"tool_choice\"") != std::string::npos) {
      Outcome o;
      o.kind = Outcome::NoToolParser;
      return o;
    }
    Outcome o = Outcome::fail(rejection(status, message, true));
    o.context_overflow = is_context_overflow(message);
    return o;
  }

  if (mode == Mode::Whole) {
    json reply = json::parse(whole, nullptr, false);
    if (!reply.is_object())
      return Outcome::fail("model server at " + config_.endpoint + " sent a reply that is not JSON: " + one_line(whole, 120));
    if (is_error(reply)) return error_in_reply(reply, whole);
    assembler.add_completion(reply);
    ChatReply result = assembler.finish();
    if (on_delta && (!result.reasoning.empty() || !result.content.empty()))
      on_delta(ChatDelta{result.reasoning, result.content, false});
    return Outcome::ok(std::move(result));
  }

  for (const auto& event : sse.finish())
    if (!on_event(event)) break;
  if (stop) {
    stop->delivered = delivered;
    return *stop;
  }
  if (!done && !assembler.finished()) {
    Outcome o = Outcome::retry(mode == Mode::Unknown ? "empty reply" : "stream ended before the reply was complete", false);
    o.delivered = delivered;
    return o;
  }
  return Outcome::ok(assembler.finish());
}

OpenAIClient::Outcome OpenAIClient::attempt_models() const {
  httplib::Client http(origin_);
  http.set_connection_timeout(config_.connect_timeout);
  http.set_read_timeout(std::min(config_.read_timeout, milliseconds(30'000)));
  httplib::Headers headers = {{"User-Agent", "nagent/" NAGENT_VERSION}};
  if (!config_.api_key.empty()) headers.emplace("Authorization", "Bearer " + config_.api_key);
  auto res = http.Get(base_path_ + "/models", headers);
  if (!res) return transport_failure(res.error(), false, false);
  if (res->status != 200) {
    const std::string message = error_message(res->body.substr(0, kMaxErrorBytes));
    if (retryable_status(res->status)) {
      Outcome o = Outcome::retry("HTTP " + std::to_string(res->status) + ": " + message, false);
      o.retry_after = parse_retry_after(res->get_header_value("Retry-After"));
      return o;
    }
    return Outcome::fail(rejection(res->status, message, false) + "; or pass --model NAME");
  }
  Outcome o;
  o.body = json::parse(res->body, nullptr, false);
  if (!o.body.is_object() || !o.body.contains("data") || !o.body["data"].is_array())
    return Outcome::fail("model server at " + config_.endpoint + "/models sent no model list; pass --model NAME");
  return o;
}

OpenAIClient::Outcome OpenAIClient::error_in_reply(const json& error, const std::string& text) const {
  const std::string message = error_message(text);
  if (retryable_status(error_code(error))) return Outcome::retry("error in reply: " + message, false);
  Outcome o = Outcome::fail("model server at " + config_.endpoint + " failed the request: " + message);
  o.context_overflow = is_context_overflow(message);
  return o;
}

OpenAIClient::Outcome OpenAIClient::transport_failure(httplib::Error error, bool answered, bool timed_out) const {
  switch (error) {
    case httplib::Error::Connection:
      if (!resolves(host_)) return Outcome::fail("cannot resolve the host " + host_ + " of --endpoint " + config_.endpoint);
      return Outcome::retry("cannot connect to " + origin_, true);
    case httplib::Error::ConnectionTimeout:
      return Outcome::retry("connecting to " + origin_ + " timed out after " + seconds_text(config_.connect_timeout), true);
    case httplib::Error::SSLConnection:
      return Outcome::fail("TLS handshake with " + origin_ + " failed; is it an https server? (local vLLM / SGLang speak http://)");
    case httplib::Error::SSLServerVerification:
      return Outcome::fail("the TLS certificate of " + origin_ + " is not trusted");
    case httplib::Error::SSLLoadingCerts:
      return Outcome::fail("cannot load the system's TLS certificates to reach " + origin_);
    case httplib::Error::Read:
      // A stuck or overloaded server: waiting another read_timeout would not help.
      if (timed_out)
        return Outcome::fail("model server at " + config_.endpoint + " sent nothing for " + seconds_text(config_.read_timeout) +
                             " (read timeout); it may be overloaded or stuck");
      return Outcome::retry(answered ? "connection dropped mid-reply" : "connection closed before a reply", !answered);
    case httplib::Error::Write:
      return Outcome::retry("connection dropped while sending the request", true);
    default:
      return Outcome::retry("HTTP client error: " + httplib::to_string(error), !answered);
  }
}

std::string OpenAIClient::rejection(int status, const std::string& message, bool list_models) const {
  std::string line = "model server at " + config_.endpoint + " rejected the request (HTTP " + std::to_string(status) +
                     "): " + message;
  if (status == 401 || status == 403)
    return line + (config_.api_key.empty() ? "; it needs an API key: set NAGENT_API_KEY"
                                           : "; check the API key in NAGENT_API_KEY");
  if (is_context_overflow(message))
    return line + "; the conversation no longer fits the model's context window" +
           (context_window_ > 0 ? " of " + std::to_string(context_window_.load()) + " tokens" : "");
  if (list_models && contains_any(message, {"model"}) && contains_any(message, {"not exist", "not found", "unknown", "invalid", "not a valid"}))
    return line + served_models_hint();
  if (status == 404) return line + "; --endpoint should be the API base, like http://host:8000/v1";
  return line;
}

// "; models served there: a, b" from GET /models, when that answers at once.
std::string OpenAIClient::served_models_hint() const {
  Outcome o = attempt_models();
  if (o.kind != Outcome::Ok) return "; pass --model NAME";
  std::string names;
  size_t count = 0;
  for (const auto& entry : o.body["data"]) {
    if (!entry.is_object() || !entry.contains("id") || !entry["id"].is_string()) continue;
    if (count++ < 10) names += (names.empty() ? "" : ", ") + entry["id"].get<std::string>();
  }
  if (names.empty()) return "; pass --model NAME";
  return "; models served there: " + names + (count > 10 ? ", ..." : "") + " (pass --model NAME)";
}

}  // namespace nagent
