// Tests for the OpenAI-compatible backend (engine/openai_client.h) and its parts (SSE
// reader, retry timing, reply assembly). Client tests run over real sockets against the
// ScriptedServer test double (tests/support/scripted_server.h) or a raw httplib server.
#include <catch2/catch.hpp>

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "engine/openai_client.h"
#include "engine/openai_stream.h"
#include "engine/retry.h"
#include "engine/sse_reader.h"
#include "support/scripted_server.h"

using namespace nagent;
using Catch::Matchers::Contains;
using std::chrono::milliseconds;

namespace {

// Fast retries so that retry tests take milliseconds.
OpenAIClientConfig config_for(const std::string& endpoint, int max_retries = 3) {
  OpenAIClientConfig config;
  config.endpoint = endpoint;
  config.model = "scripted-model";
  config.retry.max_retries = max_retries;
  config.retry.base_delay = milliseconds(1);
  config.retry.max_delay = milliseconds(5);
  return config;
}

ChatRequest user_request(const std::string& text) {
  ChatRequest request;
  request.messages = {Message::system("You are terse."), Message::user(text)};
  return request;
}

// What a live display shows: every delta appended, cleared on a restart.
struct Display {
  std::string reasoning, content;
  int deltas = 0, restarts = 0;
  DeltaCallback callback() {
    return [this](const ChatDelta& d) {
      if (d.restarted) {
        reasoning.clear();
        content.clear();
        ++restarts;
        return;
      }
      reasoning += d.reasoning;
      content += d.content;
      ++deltas;
    };
  }
};

std::string error_of(OpenAIClient& client, const ChatRequest& request) {
  try {
    client.chat(request, nullptr);
  } catch (const BackendError& e) {
    return e.what();
  }
  FAIL("chat() did not throw BackendError");
  return "";
}

// A server that answers every chat request the same way: for wire shapes the
// ScriptedServer does not produce (CRLF framing, error events, truncated streams, redirects).
class RawServer {
 public:
  explicit RawServer(std::function<void(httplib::Response&)> answer) {
    server_.Post("/v1/chat/completions", [=, this](const httplib::Request&, httplib::Response& res) {
      ++requests;
      answer(res);
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(milliseconds(1));
  }
  RawServer(std::string body, std::string content_type)
      : RawServer([=](httplib::Response& res) { res.set_content(body, content_type); }) {}
  ~RawServer() {
    server_.stop();
    thread_.join();
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  std::atomic<int> requests{0};

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

std::string sse(const json& chunk, const char* eol = "\n") {
  return std::string("data: ") + chunk.dump() + eol + eol;
}

json delta_chunk(const json& delta, const json& finish = nullptr) {
  return {{"choices", json::array({{{"index", 0}, {"delta", delta}, {"finish_reason", finish}}})}};
}

}  // namespace

// ---------------------------------------------------------------------------- SseReader

TEST_CASE("SseReader yields the same events however the bytes are split", "[sse]") {
  const std::string stream =
      ": keep-alive\r\n\r\n"
      "data: {\"a\":1}\r\n\r\n"
      "event: error\ndata: line one\ndata: line two\n\n"
      "data:no-space\r\rdata: [DONE]\n\n";
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"", "{\"a\":1}"}, {"error", "line one\nline two"}, {"", "no-space"}, {"", "[DONE]"}};

  for (size_t step : {size_t{1}, size_t{2}, size_t{3}, size_t{5}, size_t{16}, stream.size()}) {
    SseReader reader;
    std::vector<SseEvent> events;
    for (size_t pos = 0; pos < stream.size(); pos += step)
      for (auto& e : reader.feed(std::string_view(stream).substr(pos, step))) events.push_back(std::move(e));
    for (auto& e : reader.finish()) events.push_back(std::move(e));
    INFO("split every " << step << " bytes");
    REQUIRE(events.size() == expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      CHECK(events[i].event == expected[i].first);
      CHECK(events[i].data == expected[i].second);
    }
  }
}

TEST_CASE("SseReader delivers a last event the server did not terminate", "[sse]") {
  SseReader reader;
  CHECK(reader.feed("data: {\"x\":2}\n\ndata: [DONE]").size() == 1);
  auto rest = reader.finish();
  REQUIRE(rest.size() == 1);
  CHECK(rest[0].data == "[DONE]");
}

// ---------------------------------------------------------------------------- retry timing

TEST_CASE("backoff_delay is full jitter under an exponential, capped ceiling", "[retry]") {
  RetryPolicy policy;
  policy.base_delay = milliseconds(100);
  policy.max_delay = milliseconds(1000);
  for (int retry = 0; retry < 40; ++retry) {
    const int64_t ceiling = std::min<int64_t>(1000, retry < 30 ? (int64_t{100} << retry) : 1000);
    milliseconds highest{0};
    for (int i = 0; i < 200; ++i) {
      const milliseconds d = backoff_delay(policy, retry);
      REQUIRE(d.count() >= 0);
      REQUIRE(d.count() <= ceiling);
      highest = std::max(highest, d);
    }
    // Jitter spans the range: 200 draws all under half the ceiling would be a broken RNG.
    CHECK(highest.count() >= ceiling / 2);
  }
}

TEST_CASE("parse_retry_after reads seconds and HTTP dates", "[retry]") {
  CHECK(parse_retry_after("7") == milliseconds(7000));
  CHECK(parse_retry_after(" 0 ") == milliseconds(0));
  const auto now = std::chrono::system_clock::from_time_t(1445412480);  // Wed, 21 Oct 2015 07:28:00 GMT
  CHECK(parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now) == milliseconds(30000));
  CHECK(parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now) == milliseconds(0));  // in the past
  CHECK_FALSE(parse_retry_after(""));
  CHECK_FALSE(parse_retry_after("soon"));
  CHECK_FALSE(parse_retry_after("-3"));
}

// ---------------------------------------------------------------------------- reply assembly

TEST_CASE("ReplyAssembler joins tool call fragments by index, id and order", "[assembler]") {
  ReplyAssembler a;
  auto call_delta = [](json call) { return delta_chunk({{"tool_calls", json::array({call})}}); };
  a.add_chunk(call_delta({{"index", 1}, {"id", "b"}, {"function", {{"name", "shell"}, {"arguments", "{\"cmd\":"}}}}));
  a.add_chunk(call_delta({{"index", 0}, {"id", "a"}, {"function", {{"name", "read_file"}, {"arguments", ""}}}}));
  a.add_chunk(call_delta({{"index", 1}, {"function", {{"arguments", "\"ls\"}"}}}}));
  a.add_chunk(call_delta({{"index", 0}, {"function", {{"name", "read_file"}, {"arguments", "{\"path\":\"x\"}"}}}}));
  // A server numbering every call 0: a new id is a new call.
  a.add_chunk(call_delta({{"index", 0}, {"id", "c"}, {"function", {{"name", "finish"}, {"arguments", "\"{\\\"ok\\\":true}\""}}}}));
  // No index at all: continues the last call unless the id is new.
  a.add_chunk(call_delta({{"id", "d"}, {"function", {{"name", "edit"}, {"arguments", "{\"path\": \"a"}}}}));
  a.add_chunk(call_delta({{"function", {{"arguments", "b\""}}}}));
  a.add_chunk(delta_chunk(json::object(), "tool_calls"));
  CHECK(a.finished());
  ChatReply r = a.finish();
  REQUIRE(r.tool_calls.size() == 4);
  CHECK(r.tool_calls[0].id == "b");
  CHECK(r.tool_calls[0].arguments == json{{"cmd", "ls"}});
  CHECK(r.tool_calls[1].id == "a");
  CHECK(r.tool_calls[1].name == "read_file");  // a repeated name is not doubled
  CHECK(r.tool_calls[1].arguments == json{{"path", "x"}});
  CHECK(r.tool_calls[2].arguments == json{{"ok", true}});  // double-encoded, undone
  CHECK(r.tool_calls[3].name == "edit");
  CHECK(r.tool_calls[3].arguments == json::object());  // malformed: kept raw
  CHECK(r.tool_calls[3].raw_arguments == "{\"path\": \"ab\"");
  CHECK(r.finish_reason == "tool_calls");
}

TEST_CASE("ReplyAssembler takes reasoning from reasoning_content or reasoning, never both", "[assembler]") {
  ReplyAssembler a;
  a.add_chunk(delta_chunk({{"reasoning_content", "think"}, {"reasoning", "think"}}));
  a.add_chunk(delta_chunk({{"reasoning", " more"}, {"content", nullptr}}));
  a.add_chunk(delta_chunk({{"content", "done"}}, "stop"));
  ChatReply r = a.finish();
  CHECK(r.reasoning == "think more");
  CHECK(r.content == "done");
}

// ---------------------------------------------------------------------------- the client

TEST_CASE("OpenAIClient streams reasoning and content deltas", "[client]") {
  ScriptedServer server;
  const std::string reasoning = "The user greets me; ünïcode → fine. Answer briefly.";
  const std::string content = "Hello! How can I help you today?";
  server.push({.reasoning = reasoning, .content = content, .chunk_size = 5});
  OpenAIClient client(config_for(server.endpoint()));
  Display display;
  ChatReply reply = client.chat(user_request("hi"), display.callback());

  CHECK(reply.reasoning == reasoning);
  CHECK(reply.content == content);
  CHECK(reply.finish_reason == "stop");
  CHECK(reply.model == "scripted-model");
  CHECK(reply.tool_calls.empty());
  CHECK(display.reasoning == reasoning);
  CHECK(display.content == content);
  CHECK(display.deltas >= static_cast<int>((reasoning.size() + content.size()) / 5));
  CHECK(display.restarts == 0);
  CHECK(server.request_count() == 1);
}

TEST_CASE("OpenAIClient reads usage from the final chunk", "[client]") {
  ScriptedServer server;
  server.push({.content = "ok", .prompt_tokens = 1234, .completion_tokens = 56});
  OpenAIClient client(config_for(server.endpoint()));
  ChatReply reply = client.chat(user_request("hi"), nullptr);
  CHECK(reply.usage.reported);
  CHECK(reply.usage.prompt_tokens == 1234);
  CHECK(reply.usage.completion_tokens == 56);
}

TEST_CASE("OpenAIClient assembles several tool calls streamed in interleaved fragments", "[client]") {
  ScriptedServer server;
  const json calls = json::array(
      {{{"id", "call_a"}, {"type", "function"},
        {"function", {{"name", "read_file"}, {"arguments", {{"path", "src/main.cpp"}, {"offset", 10}}}}}},
       {{"id", "call_b"}, {"type", "function"},
        {"function", {{"name", "shell"}, {"arguments", {{"command", "grep -rn 'TODO' . | head"}, {"env", {{"LANG", "C"}}}}}}}},
       {{"id", "call_c"}, {"type", "function"}, {"function", {{"name", "edit"}, {"arguments", "{\"path\": \"a.txt\", \"new"}}}}});
  server.push({.content = "Let me look.", .tool_calls = calls, .chunk_size = 3});
  OpenAIClient client(config_for(server.endpoint()));
  ChatReply reply = client.chat(user_request("fix it"), nullptr);

  CHECK(reply.content == "Let me look.");
  CHECK(reply.finish_reason == "tool_calls");
  REQUIRE(reply.tool_calls.size() == 3);
  CHECK(reply.tool_calls[0].id == "call_a");
  CHECK(reply.tool_calls[0].name == "read_file");
  CHECK(reply.tool_calls[0].arguments == calls[0]["function"]["arguments"]);
  CHECK(reply.tool_calls[0].raw_arguments.empty());
  CHECK(reply.tool_calls[1].name == "shell");
  CHECK(reply.tool_calls[1].arguments == calls[1]["function"]["arguments"]);
  // Malformed arguments are kept for the agent to report, not dropped or thrown.
  CHECK(reply.tool_calls[2].name == "edit");
  CHECK(reply.tool_calls[2].arguments == json::object());
  CHECK(reply.tool_calls[2].raw_arguments == "{\"path\": \"a.txt\", \"new");
}

TEST_CASE("OpenAIClient returns tool calls written as text in content untouched", "[client]") {
  ScriptedServer server;
  const std::string text =
      "I will read it.\n<tool_call>\n<function=read_file>\n<parameter=path>\nsrc/a.cpp\n</parameter>\n"
      "</function>\n</tool_call>";
  server.push({.content = text});
  OpenAIClient client(config_for(server.endpoint()));
  ChatReply reply = client.chat(user_request("read a.cpp"), nullptr);
  CHECK(reply.content == text);
  CHECK(reply.tool_calls.empty());
}

TEST_CASE("OpenAIClient accepts a non-streamed JSON reply", "[client]") {
  ScriptedServer server;
  server.push({.reasoning = "short thought",
               .tool_calls = json::array({{{"id", "call_1"}, {"function", {{"name", "finish"}, {"arguments", {{"summary", "done"}}}}}}}),
               .stream = false,
               .prompt_tokens = 10,
               .completion_tokens = 3});
  OpenAIClient client(config_for(server.endpoint()));
  Display display;
  ChatReply reply = client.chat(user_request("go"), display.callback());
  CHECK(reply.reasoning == "short thought");
  CHECK(reply.content.empty());  // null content
  REQUIRE(reply.tool_calls.size() == 1);
  CHECK(reply.tool_calls[0].name == "finish");
  CHECK(reply.tool_calls[0].arguments == json{{"summary", "done"}});
  CHECK(reply.finish_reason == "tool_calls");
  CHECK(reply.usage.prompt_tokens == 10);
  CHECK(display.reasoning == "short thought");  // shown once, whole
}

TEST_CASE("OpenAIClient reads CRLF-framed streams with the vLLM 'reasoning' field", "[client]") {
  json with_null_error = delta_chunk({{"reasoning", "hmm"}});
  with_null_error["error"] = nullptr;  // some proxies add it to every chunk
  const std::string body = ": ping\r\n\r\n" + sse(with_null_error, "\r\n") +
                           sse(delta_chunk({{"content", "answer"}}), "\r\n") +
                           sse(delta_chunk(json::object(), "stop"), "\r\n") + "data: [DONE]\r\n\r\n";
  RawServer server(body, "text/event-stream");
  OpenAIClient client(config_for(server.endpoint()));
  ChatReply reply = client.chat(user_request("q"), nullptr);
  CHECK(reply.reasoning == "hmm");
  CHECK(reply.content == "answer");
  CHECK_FALSE(reply.usage.reported);
}

TEST_CASE("OpenAIClient posts the OpenAI request shape", "[client]") {
  ScriptedServer server;
  server.push({.content = "ok"});
  OpenAIClient client(config_for(server.endpoint()));

  ChatRequest request;
  Message assistant{"assistant", "", "I should read it.", {}, {}, {}};
  assistant.tool_calls.push_back({"call_7", "read_file", json{{"path", "a.txt"}}, {}});
  request.messages = {Message::system("sys"), Message::user("read a.txt"), assistant,
                      Message::tool_result("call_7", "read_file", "hello\n")};
  request.tools = json::array({{{"type", "function"},
                                {"function", {{"name", "read_file"}, {"description", "Reads a file"},
                                              {"parameters", {{"type", "object"}, {"properties", {{"path", {{"type", "string"}}}}}}}}}}});
  request.sampling.temperature = 0.2;
  request.sampling.top_p = 0.9;
  request.sampling.max_tokens = 512;
  request.sampling.seed = 42;
  request.enable_thinking = false;
  request.extra_template_kwargs = {{"force_nonempty_content", true}};
  client.chat(request, nullptr);

  REQUIRE(server.request_count() == 1);
  const json body = server.requests()[0];
  CHECK(body["model"] == "scripted-model");
  CHECK(body["stream"] == true);
  CHECK(body["stream_options"] == json{{"include_usage", true}});
  CHECK(body["temperature"] == 0.2);
  CHECK(body["top_p"] == 0.9);
  CHECK(body["max_tokens"] == 512);
  CHECK(body["seed"] == 42);
  CHECK(body["chat_template_kwargs"] == json{{"enable_thinking", false}, {"force_nonempty_content", true}});
  CHECK(body["tools"] == request.tools);
  CHECK(body["tool_choice"] == "auto");
  REQUIRE(body["messages"].size() == 4);
  CHECK(body["messages"][0] == json{{"role", "system"}, {"content", "sys"}});
  const json& call = body["messages"][2]["tool_calls"][0];
  CHECK(call["id"] == "call_7");
  CHECK(call["type"] == "function");
  CHECK(call["function"]["name"] == "read_file");
  REQUIRE(call["function"]["arguments"].is_string());  // a JSON string, as OpenAI specifies
  CHECK(json::parse(call["function"]["arguments"].get<std::string>()) == json{{"path", "a.txt"}});
  CHECK(body["messages"][2]["reasoning_content"] == "I should read it.");
  CHECK(body["messages"][3]["role"] == "tool");
  CHECK(body["messages"][3]["tool_call_id"] == "call_7");
  CHECK(body["messages"][3]["content"] == "hello\n");
}

TEST_CASE("OpenAIClient leaves tools out of a request without tools and merges extra_body", "[client]") {
  ScriptedServer server;
  server.push({.content = "ok"});
  auto config = config_for(server.endpoint());
  config.extra_body = {{"top_k", 20}, {"temperature", 1.0}};
  OpenAIClient client(config);
  client.chat(user_request("hi"), nullptr);
  const json body = server.requests()[0];
  CHECK_FALSE(body.contains("tools"));
  CHECK_FALSE(body.contains("tool_choice"));
  CHECK(body["top_k"] == 20);
  CHECK(body["temperature"] == 1.0);  // extra_body wins
  CHECK(body["chat_template_kwargs"] == json{{"enable_thinking", true}});
}

TEST_CASE("OpenAIClient sends tool output that is not valid UTF-8, with the bad bytes replaced", "[client]") {
  ScriptedServer server;
  server.push({.content = "ok"});
  OpenAIClient client(config_for(server.endpoint()));
  ChatRequest request = user_request("cat the binary");
  request.messages.push_back(Message::tool_result("call_1", "shell", std::string("ELF\x7f\xff\xfe end")));
  CHECK(client.chat(request, nullptr).content == "ok");
  REQUIRE(server.request_count() == 1);
  CHECK(server.requests()[0]["messages"][2]["content"] == "ELF\x7f\xEF\xBF\xBD\xEF\xBF\xBD end");
}

TEST_CASE("OpenAIClient sends the API key as a bearer token", "[client]") {
  ScriptedServer server;
  server.push({.content = "a"});
  server.push({.content = "b"});
  auto config = config_for(server.endpoint());
  config.api_key = "sk-test-123";
  OpenAIClient(config).chat(user_request("hi"), nullptr);
  OpenAIClient(config_for(server.endpoint())).chat(user_request("hi"), nullptr);
  CHECK(server.header(0, "Authorization") == "Bearer sk-test-123");
  CHECK(server.header(1, "Authorization").empty());
}

TEST_CASE("OpenAIClient asks /models for the model and its context window", "[client]") {
  ScriptedServer server;
  server.push({.content = "ok"});
  auto config = config_for(server.endpoint());
  config.model.clear();
  OpenAIClient client(config);
  CHECK(client.model() == "scripted-model");
  CHECK(client.context_window() == 131072);
  CHECK_THAT(client.describe(), Contains(server.endpoint()) && Contains("model=scripted-model"));
  client.chat(user_request("hi"), nullptr);
  CHECK(server.requests()[0]["model"] == "scripted-model");

  config.model = "scripted-model";
  config.context_window = 4096;  // configured: wins over the server's
  CHECK(OpenAIClient(config).context_window() == 4096);
}

TEST_CASE("OpenAIClient learns the context window after the first reply when the server started late", "[client]") {
  int port = 0;
  {
    ScriptedServer probe;  // find a free port
    port = probe.port();
  }
  OpenAIClient client(config_for("http://127.0.0.1:" + std::to_string(port) + "/v1"));
  CHECK(client.context_window() == 0);  // nothing listening yet
  ScriptedServer server(port);
  server.push({.content = "ok"});
  client.chat(user_request("hi"), nullptr);
  CHECK(client.context_window() == 131072);
}

TEST_CASE("OpenAIClient serves concurrent chats from several threads", "[client]") {
  ScriptedServer server;
  server.set_responder([](const json& request) {
    ScriptedReply reply;
    reply.content = "echo: " + request["messages"].back()["content"].get<std::string>();
    reply.delay_ms = 20;  // overlap the requests
    return reply;
  });
  OpenAIClient client(config_for(server.endpoint()));
  std::vector<std::string> answers(6);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < answers.size(); ++i)
    threads.emplace_back([&, i] { answers[i] = client.chat(user_request("agent " + std::to_string(i)), nullptr).content; });
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < answers.size(); ++i) CHECK(answers[i] == "echo: agent " + std::to_string(i));
  CHECK(server.request_count() == answers.size());
}

TEST_CASE("OpenAIClient retries a 500 and succeeds", "[client][retry]") {
  ScriptedServer server;
  server.push({.http_status = 500});
  server.push({.http_status = 503, .error_body = "upstream busy"});
  server.push({.content = "recovered"});
  OpenAIClient client(config_for(server.endpoint()));
  CHECK(client.chat(user_request("hi"), nullptr).content == "recovered");
  CHECK(server.request_count() == 3);
}

TEST_CASE("OpenAIClient honours Retry-After on 429", "[client][retry]") {
  ScriptedServer server;
  server.push({.http_status = 429, .retry_after_s = 1});
  server.push({.content = "after the wait"});
  OpenAIClient client(config_for(server.endpoint()));
  const auto start = std::chrono::steady_clock::now();
  CHECK(client.chat(user_request("hi"), nullptr).content == "after the wait");
  CHECK(std::chrono::steady_clock::now() - start >= milliseconds(950));  // base delay is 1 ms
  CHECK(server.request_count() == 2);

  SECTION("a Retry-After beyond max_retry_after fails at once") {
    server.push({.http_status = 429, .error_body = "{\"error\":{\"message\":\"Rate limit exceeded\"}}", .retry_after_s = 3600});
    auto config = config_for(server.endpoint());
    config.retry.max_retry_after = milliseconds(60'000);
    OpenAIClient impatient(config);
    const std::string error = error_of(impatient, user_request("hi"));
    CHECK_THAT(error, Contains("retry after 3600 s") && Contains("Rate limit exceeded"));
    CHECK(server.request_count() == 3);
  }
}

TEST_CASE("OpenAIClient retries a stream cut mid-reply and tells the display to restart", "[client][retry]") {
  ScriptedServer server;
  server.push({.reasoning = "first attempt thinking", .content = "first attempt answer that never ends", .drop_connection = true});
  server.push({.content = "second attempt"});
  OpenAIClient client(config_for(server.endpoint()));
  Display display;
  ChatReply reply = client.chat(user_request("hi"), display.callback());
  CHECK(reply.content == "second attempt");
  CHECK(reply.reasoning.empty());  // nothing of the cut attempt leaks into the reply
  CHECK(display.restarts == 1);
  CHECK(display.content == "second attempt");
  CHECK(server.request_count() == 2);
}

TEST_CASE("OpenAIClient retries a stream that ends without finish_reason or [DONE]", "[client][retry]") {
  RawServer server(sse(delta_chunk({{"content", "partial"}})), "text/event-stream");
  OpenAIClient client(config_for(server.endpoint(), 2));
  const std::string error = error_of(client, user_request("hi"));
  CHECK_THAT(error, Contains("failed 3 attempts") && Contains("stream ended before the reply was complete"));
  CHECK(server.requests == 3);
}

TEST_CASE("OpenAIClient names the URL a server redirects to", "[client]") {
  RawServer server([](httplib::Response& res) {
    res.status = 301;
    res.set_header("Location", "https://api.example.test/v1/chat/completions");
  });
  OpenAIClient client(config_for(server.endpoint()));
  const std::string error = error_of(client, user_request("hi"));
  CHECK_THAT(error, Contains("redirects to https://api.example.test/v1/chat/completions") &&
                        Contains("pass --endpoint https://api.example.test/v1"));
  CHECK(server.requests == 1);
}

TEST_CASE("OpenAIClient keeps a complete reply whose connection broke before [DONE]", "[client][retry]") {
  const std::string events = sse(delta_chunk({{"content", "all here"}})) + sse(delta_chunk(json::object(), "stop"));
  RawServer server([events](httplib::Response& res) {
    res.set_chunked_content_provider("text/event-stream", [events, sent = false](size_t, httplib::DataSink& sink) mutable {
      if (sent) return false;  // break the connection instead of ending the stream
      sent = true;
      return sink.write(events.data(), events.size());
    });
  });
  OpenAIClient client(config_for(server.endpoint()));
  ChatReply reply = client.chat(user_request("hi"), nullptr);
  CHECK(reply.content == "all here");
  CHECK(reply.finish_reason == "stop");
  CHECK(server.requests == 1);  // not generated again
}

TEST_CASE("OpenAIClient surfaces an error event inside a 200 stream", "[client]") {
  const std::string body = sse(delta_chunk({{"content", "par"}})) +
                           sse({{"object", "error"}, {"message", "Engine crashed:\nCUDA out of memory"}, {"code", 400}});
  RawServer server(body, "text/event-stream");
  OpenAIClient client(config_for(server.endpoint()));
  const std::string error = error_of(client, user_request("hi"));
  CHECK_THAT(error, Contains("Engine crashed: CUDA out of memory"));
  CHECK(error.find('\n') == std::string::npos);
  CHECK(server.requests == 1);  // code 400: not retried
}

TEST_CASE("OpenAIClient does not retry a 400 and shows the server's message in one line", "[client]") {
  ScriptedServer server;
  server.push({.http_status = 400,
               .error_body = R"({"object":"error","message":"This model's maximum context length is 1000 tokens.\nHowever, you requested 2000 tokens.","type":"BadRequestError","code":400})"});
  OpenAIClient client(config_for(server.endpoint()));
  std::string error;
  try {
    client.chat(user_request("hi"), nullptr);
  } catch (const ContextOverflowError& e) {  // the agent can shorten the history and go on
    error = e.what();
  }
  CHECK_THAT(error, Contains("HTTP 400") && Contains("maximum context length is 1000 tokens. However, you requested 2000 tokens"));
  CHECK_THAT(error, Contains("context window of 131072 tokens"));
  CHECK(error.find('\n') == std::string::npos);
  CHECK(server.request_count() == 1);
}

TEST_CASE("OpenAIClient cuts a long server message on a character boundary", "[client]") {
  ScriptedServer server;
  std::string message = "x";  // odd offset: a cut at a byte limit lands inside a character
  for (int i = 0; i < 400; ++i) message += "é";
  server.push({.http_status = 422, .error_body = json{{"error", {{"message", message}}}}.dump()});
  OpenAIClient client(config_for(server.endpoint()));
  const std::string error = error_of(client, user_request("hi"));
  CHECK_THAT(error, Contains("ééé...") && Contains("HTTP 422"));
  CHECK(error.size() < 600);
  CHECK_NOTHROW(json(error).dump());  // still valid UTF-8 (dump throws otherwise)
}

TEST_CASE("OpenAIClient names the served models when the model is unknown", "[client]") {
  ScriptedServer server;
  server.push({.http_status = 404, .error_body = R"({"object":"error","message":"The model `nemotron` does not exist.","code":404})"});
  auto config = config_for(server.endpoint());
  config.model = "nemotron";
  OpenAIClient client(config);
  std::string error;
  try {
    client.chat(user_request("hi"), nullptr);
  } catch (const ContextOverflowError&) {
    FAIL("an unknown model is not a context overflow");
  } catch (const BackendError& e) {
    error = e.what();
  }
  CHECK_THAT(error, Contains("The model `nemotron` does not exist") && Contains("models served there: scripted-model"));
  CHECK(server.request_count() == 1);
}

TEST_CASE("OpenAIClient says to set NAGENT_API_KEY on 401", "[client]") {
  ScriptedServer server;
  server.push({.http_status = 401, .error_body = R"({"error":{"message":"Missing bearer token\u001b[2J"}})"});
  OpenAIClient client(config_for(server.endpoint()));
  const std::string error = error_of(client, user_request("hi"));
  CHECK_THAT(error, Contains("Missing bearer token") && Contains("set NAGENT_API_KEY"));
  CHECK(error.find('\x1b') == std::string::npos);  // no terminal escapes from the server
  CHECK(server.request_count() == 1);
}

TEST_CASE("OpenAIClient falls back to tool_choice none on a server without a tool parser", "[client]") {
  ScriptedServer server;
  server.set_responder([](const json& request) {
    ScriptedReply reply;
    if (request.value("tool_choice", "") == "auto") {
      reply.http_status = 400;
      reply.error_body =
          R"({"object":"error","message":"\"auto\" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set","code":400})";
    } else {
      reply.content = "<tool_call>\n<function=finish>\n</function>\n</tool_call>";
    }
    return reply;
  });
  OpenAIClient client(config_for(server.endpoint()));
  ChatRequest request = user_request("go");
  request.tools = json::array({{{"type", "function"}, {"function", {{"name", "finish"}, {"parameters", {{"type", "object"}}}}}}});
  CHECK_THAT(client.chat(request, nullptr).content, Contains("<function=finish>"));
  CHECK_THAT(client.describe(), Contains("tool_choice=none"));
  client.chat(request, nullptr);  // remembered: no second refusal
  const auto requests = server.requests();
  REQUIRE(requests.size() == 3);
  CHECK(requests[0]["tool_choice"] == "auto");
  CHECK(requests[1]["tool_choice"] == "none");
  CHECK(requests[1]["tools"] == request.tools);  // tools stay in the prompt
  CHECK(requests[2]["tool_choice"] == "none");
}

TEST_CASE("OpenAIClient gives up on an unreachable server after N attempts, in bounded time", "[client][retry]") {
  std::string endpoint;
  {
    ScriptedServer closed;  // take a free port, then close it
    endpoint = closed.endpoint();
  }
  auto config = config_for(endpoint, 3);
  config.retry.base_delay = milliseconds(20);
  config.retry.max_delay = milliseconds(50);
  OpenAIClient client(config);
  const auto start = std::chrono::steady_clock::now();
  const std::string error = error_of(client, user_request("hi"));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
  CHECK_THAT(error, Contains("model server at " + endpoint + " unreachable after 4 attempts") &&
                        Contains("start it or pass --endpoint"));

  SECTION("and so does the constructor when it needs /models") {
    config.model.clear();
    try {
      OpenAIClient discovering(config);
      FAIL("constructor did not throw");
    } catch (const BackendError& e) {
      CHECK_THAT(e.what(), Contains("unreachable after 4 attempts"));
    }
  }
}

TEST_CASE("OpenAIClient fails a silent server at the read timeout without retrying", "[client]") {
  ScriptedServer server;
  server.push({.content = "too late", .delay_ms = 2000});
  auto config = config_for(server.endpoint());
  config.read_timeout = milliseconds(300);
  OpenAIClient client(config);
  const std::string error = error_of(client, user_request("hi"));
  CHECK_THAT(error, Contains("sent nothing for 0.3 s (read timeout)"));
  CHECK(server.request_count() == 1);
}

TEST_CASE("OpenAIClient speaks TLS for https endpoints", "[client]") {
  ScriptedServer server;  // plain HTTP: the TLS handshake must fail, and say so
  auto config = config_for("https://127.0.0.1:" + std::to_string(server.port()) + "/v1", 1);
  OpenAIClient client(config);
  const std::string error = error_of(client, user_request("hi"));
  CHECK_THAT(error, Contains("TLS handshake with https://127.0.0.1:" + std::to_string(server.port()) + " failed"));
  CHECK(server.request_count() == 0);
}

TEST_CASE("OpenAIClient rejects malformed endpoints with a clear message", "[client]") {
  auto make = [](const std::string& endpoint) { OpenAIClient client(config_for(endpoint)); };
  CHECK_THROWS_WITH(make("localhost:8000"), Contains("not an http(s) URL"));
  CHECK_THROWS_WITH(make("ftp://host/v1"), Contains("not an http(s) URL"));
  CHECK_THROWS_WITH(make("http://host:8000/v1/chat/completions"), Contains("like http://host:8000/v1"));
}

// ---------------------------------------------------------------------------- the test double

TEST_CASE("ScriptedServer streams a scripted reply and reports an empty queue", "[scripted_server]") {
  ScriptedServer server;
  server.push({.reasoning = "think", .content = "héllo wörld"});
  httplib::Client http("127.0.0.1", server.port());
  auto res = http.Post("/v1/chat/completions", R"({"model":"m","messages":[]})", "application/json");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK_THAT(res->get_header_value("Content-Type"), Contains("text/event-stream"));
  CHECK_THAT(res->body, Contains(R"("reasoning_content":"think")") && Contains("data: [DONE]"));
  CHECK(server.request_count() == 1);
  CHECK(server.requests()[0]["model"] == "m");

  auto empty = http.Post("/v1/chat/completions", "{}", "application/json");
  REQUIRE(empty);
  CHECK(empty->status == 500);
  CHECK_THAT(empty->body, Contains("no reply scripted for chat request #2"));

  auto models = http.Get("/v1/models");
  REQUIRE(models);
  CHECK(json::parse(models->body)["data"][0]["id"] == "scripted-model");
}
