// TEST DOUBLE: see scripted_server.h.
#include "support/scripted_server.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>

using nagent::json;

namespace {

constexpr const char* kModel = "scripted-model";

// Splits text into pieces of about `size` bytes without cutting a UTF-8 sequence (a cut
// one would not be valid JSON text).
std::vector<std::string> split_utf8(const std::string& text, int size) {
  std::vector<std::string> pieces;
  const size_t step = size > 0 ? static_cast<size_t>(size) : 1;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = std::min(text.size(), begin + step);
    while (end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) ++end;
    pieces.push_back(text.substr(begin, end - begin));
    begin = end;
  }
  return pieces;
}

std::string arguments_text(const json& call) {
  const json& fn = call.contains("function") ? call["function"] : json::object();
  if (!fn.contains("arguments")) return "{}";
  return fn["arguments"].is_string() ? fn["arguments"].get<std::string>() : fn["arguments"].dump();
}

json usage_of(const ScriptedReply& reply, size_t request_bytes) {
  size_t reply_bytes = reply.reasoning.size() + reply.content.size();
  for (const auto& call : reply.tool_calls) reply_bytes += arguments_text(call).size();
  const int prompt = reply.prompt_tokens >= 0 ? reply.prompt_tokens : static_cast<int>(request_bytes / 4);
  const int completion =
      reply.completion_tokens >= 0 ? reply.completion_tokens : static_cast<int>(reply_bytes / 4);
  return {{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}};
}

std::string finish_reason_of(const ScriptedReply& reply) {
  return reply.tool_calls.empty() ? "stop" : "tool_calls";
}

json chunk(const json& delta, const json& finish_reason = nullptr) {
  return {{"id", "chatcmpl-scripted"},
          {"object", "chat.completion.chunk"},
          {"created", 0},
          {"model", kModel},
          {"choices", json::array({{{"index", 0}, {"delta", delta}, {"finish_reason", finish_reason}}})}};
}

// The SSE events of a streamed reply, in the order vLLM / SGLang send them: role, reasoning,
// content, tool calls (headers of every call first, then argument pieces round-robin across
// calls, so indexes interleave), finish_reason, usage (empty choices), [DONE].
std::vector<std::string> stream_events(const ScriptedReply& reply, size_t request_bytes) {
  std::vector<json> chunks;
  chunks.push_back(chunk({{"role", "assistant"}, {"content", ""}}));
  for (const auto& piece : split_utf8(reply.reasoning, reply.chunk_size))
    chunks.push_back(chunk({{"reasoning_content", piece}}));
  for (const auto& piece : split_utf8(reply.content, reply.chunk_size))
    chunks.push_back(chunk({{"content", piece}}));

  std::vector<std::vector<std::string>> argument_pieces;
  for (size_t i = 0; i < reply.tool_calls.size(); ++i) {
    const json& call = reply.tool_calls[i];
    const json& fn = call.contains("function") ? call["function"] : json::object();
    chunks.push_back(chunk({{"tool_calls", json::array({{{"index", i},
                                                          {"id", call.value("id", "call_" + std::to_string(i))},
                                                          {"type", "function"},
                                                          {"function", {{"name", fn.value("name", "")}, {"arguments", ""}}}}})}}));
    argument_pieces.push_back(split_utf8(arguments_text(call), reply.chunk_size));
  }
  for (size_t round = 0;; ++round) {
    bool any = false;
    for (size_t i = 0; i < argument_pieces.size(); ++i) {
      if (round >= argument_pieces[i].size()) continue;
      any = true;
      chunks.push_back(chunk({{"tool_calls", json::array({{{"index", i}, {"function", {{"arguments", argument_pieces[i][round]}}}}})}}));
    }
    if (!any) break;
  }
  chunks.push_back(chunk(json::object(), finish_reason_of(reply)));
  json usage_chunk = chunk(json::object());
  usage_chunk["choices"] = json::array();
  usage_chunk["usage"] = usage_of(reply, request_bytes);
  chunks.push_back(usage_chunk);

  std::vector<std::string> events;
  for (const auto& c : chunks) events.push_back("data: " + c.dump() + "\n\n");
  events.push_back("data: [DONE]\n\n");
  return events;
}

json completion_body(const ScriptedReply& reply, size_t request_bytes) {
  json message = {{"role", "assistant"},
                  {"content", reply.content.empty() && !reply.tool_calls.empty() ? json(nullptr) : json(reply.content)}};
  if (!reply.reasoning.empty()) message["reasoning_content"] = reply.reasoning;
  if (!reply.tool_calls.empty()) {
    json calls = json::array();
    for (size_t i = 0; i < reply.tool_calls.size(); ++i) {
      const json& call = reply.tool_calls[i];
      const json& fn = call.contains("function") ? call["function"] : json::object();
      calls.push_back({{"id", call.value("id", "call_" + std::to_string(i))},
                       {"type", "function"},
                       {"function", {{"name", fn.value("name", "")}, {"arguments", arguments_text(call)}}}});
    }
    message["tool_calls"] = calls;
  }
  return {{"id", "chatcmpl-scripted"},
          {"object", "chat.completion"},
          {"created", 0},
          {"model", kModel},
          {"choices", json::array({{{"index", 0}, {"message", message}, {"finish_reason", finish_reason_of(reply)}}})},
          {"usage", usage_of(reply, request_bytes)}};
}

json error_json(int status, const std::string& message) {
  return {{"error", {{"message", message}, {"type", status >= 500 ? "server_error" : "invalid_request_error"},
                     {"param", nullptr}, {"code", status}}}};
}

}  // namespace

struct ScriptedServer::State {
  httplib::Server server;
  std::thread thread;
  int port = 0;
  std::atomic<bool> stopping{false};

  mutable std::mutex mutex;
  std::deque<ScriptedReply> queue;
  std::function<ScriptedReply(const json&)> responder;
  std::vector<json> requests;
  std::vector<httplib::Headers> headers;

  // Sleeps in small steps so that a destructor does not wait for a long scripted delay.
  void sleep_ms(int ms) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!stopping && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }

  void handle_chat(const httplib::Request& req, httplib::Response& res) {
    json body = json::parse(req.body, nullptr, false);
    ScriptedReply reply;
    {
      std::lock_guard<std::mutex> lock(mutex);
      requests.push_back(body.is_discarded() ? json(req.body) : body);
      headers.push_back(req.headers);
      if (body.is_discarded()) {
        reply.http_status = 400;
        reply.error_body = error_json(400, "ScriptedServer: request body is not JSON").dump();
      } else if (responder) {
        reply = responder(body);
      } else if (!queue.empty()) {
        reply = std::move(queue.front());
        queue.pop_front();
      } else {
        reply.http_status = 500;
        reply.error_body = error_json(500, "ScriptedServer: no reply scripted for chat request #" +
                                               std::to_string(requests.size()) +
                                               " (push() one or set_responder())")
                               .dump();
      }
    }
    if (reply.delay_ms > 0) sleep_ms(reply.delay_ms);
    if (reply.retry_after_s >= 0) res.set_header("Retry-After", std::to_string(reply.retry_after_s));

    if (reply.http_status != 200) {
      res.status = reply.http_status;
      const std::string error = reply.error_body.empty()
                                    ? error_json(reply.http_status, "scripted HTTP " + std::to_string(reply.http_status)).dump()
                                    : reply.error_body;
      res.set_content(error, "application/json");
      return;
    }

    std::vector<std::string> pieces;
    std::string content_type;
    if (reply.stream) {
      content_type = "text/event-stream";
      pieces.push_back(": keep-alive\n\n");
      for (const auto& event : stream_events(reply, req.body.size())) {
        pieces.push_back(event.substr(0, event.size() / 2));
        pieces.push_back(event.substr(event.size() / 2));
      }
    } else {
      content_type = "application/json";
      const std::string text = completion_body(reply, req.body.size()).dump();
      pieces = {text.substr(0, text.size() / 2), text.substr(text.size() / 2)};
    }
    const size_t limit = reply.drop_connection ? pieces.size() / 2 : pieces.size();
    auto next = std::make_shared<size_t>(0);
    res.set_chunked_content_provider(content_type, [pieces = std::move(pieces), limit, next](size_t, httplib::DataSink& sink) {
      if (*next >= limit) {
        if (limit < pieces.size()) return false;  // drop: abort without the final chunk
        sink.done();
        return true;
      }
      const std::string& piece = pieces[(*next)++];
      return sink.write(piece.data(), piece.size());
    });
  }
};

ScriptedServer::ScriptedServer(int port) : state_(std::make_unique<State>()) {
  State& s = *state_;
  // Short keep-alive so that the destructor never waits long on an idle client connection.
  s.server.set_keep_alive_timeout(1);
  s.server.Post("/v1/chat/completions",
                [&s](const httplib::Request& req, httplib::Response& res) { s.handle_chat(req, res); });
  s.server.Get("/v1/models", [](const httplib::Request&, httplib::Response& res) {
    json models = {{"object", "list"},
                   {"data", json::array({{{"id", kModel}, {"object", "model"}, {"owned_by", "nagent-tests"},
                                          {"max_model_len", 131072}}})}};
    res.set_content(models.dump(), "application/json");
  });
  if (port == 0) {
    s.port = s.server.bind_to_any_port("127.0.0.1");
  } else if (s.server.bind_to_port("127.0.0.1", port)) {
    s.port = port;
  }
  if (s.port <= 0) throw std::runtime_error("ScriptedServer: cannot bind " + std::string(port ? "port " + std::to_string(port) : "a port") + " on 127.0.0.1");
  s.thread = std::thread([&s] { s.server.listen_after_bind(); });
  // stop() before the listen loop started would be lost and the join would hang.
  while (!s.server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

ScriptedServer::~ScriptedServer() {
  state_->stopping = true;
  state_->server.stop();
  if (state_->thread.joinable()) state_->thread.join();
}

std::string ScriptedServer::endpoint() const { return "http://127.0.0.1:" + std::to_string(state_->port) + "/v1"; }

int ScriptedServer::port() const { return state_->port; }

void ScriptedServer::push(ScriptedReply reply) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->queue.push_back(std::move(reply));
}

void ScriptedServer::set_responder(std::function<ScriptedReply(const json&)> responder) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->responder = std::move(responder);
}

std::vector<json> ScriptedServer::requests() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->requests;
}

size_t ScriptedServer::request_count() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->requests.size();
}

std::string ScriptedServer::header(size_t index, const std::string& name) const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  if (index >= state_->headers.size()) return "";
  const auto& h = state_->headers[index];
  auto it = h.find(name);
  return it == h.end() ? "" : it->second;
}
