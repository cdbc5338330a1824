// TEST DOUBLE: ScriptedServer plays an OpenAI-compatible model server (vLLM, SGLang, ...)
// for tests. It is a real cpp-httplib server on 127.0.0.1 (a free port, its own thread)
// that answers POST /v1/chat/completions with replies scripted by the test, streamed the
// way those servers stream them (SSE chunks with reasoning_content / content / tool_calls
// deltas, a usage chunk, [DONE]), and GET /v1/models with one model, "scripted-model".
//
//   ScriptedServer server;
//   server.push({.content = "hello"});
//   OpenAIClient client({.endpoint = server.endpoint(), .model = "m"});
//   ... client.chat(...) ...  server.requests()[0]["messages"] ...
//
// Every SSE event is written in two pieces (split mid-event) and the stream opens with a
// ": keep-alive" comment, so clients are exercised on reassembly and comments for free.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/chat.h"

struct ScriptedReply {
  std::string reasoning = {};            // streamed as delta.reasoning_content
  std::string content = {};              // streamed as delta.content
  nagent::json tool_calls = nagent::json::array();  // OpenAI shape: [{id, type, function:{name, arguments}}];
                                         // arguments may be an object or a (possibly malformed) string
  int http_status = 200;                 // != 200: an error reply (no stream)
  std::string error_body = {};           // error reply body; empty: an OpenAI-shaped error JSON
  bool drop_connection = false;          // close the connection after half of the stream
  int delay_ms = 0;                      // wait before answering (before the headers)
  int retry_after_s = -1;                // >= 0: send a Retry-After header with this value
  bool stream = true;                    // false: one application/json body (server ignoring stream)
  int chunk_size = 7;                    // bytes of reasoning / content / arguments per delta
  int prompt_tokens = -1, completion_tokens = -1;  // -1: bytes / 4 of request / reply text
};

class ScriptedServer {
 public:
  explicit ScriptedServer(int port = 0);  // 0: a free port
  ~ScriptedServer();
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  std::string endpoint() const;  // "http://127.0.0.1:PORT/v1"
  int port() const;

  // Replies are used in FIFO order, one per chat request; with none left the server answers
  // 500 with an error naming the problem.
  void push(ScriptedReply reply);
  // Optional: computes each reply from the request body instead of the queue.
  void set_responder(std::function<ScriptedReply(const nagent::json& request)> responder);

  std::vector<nagent::json> requests() const;  // every chat request body, in order
  size_t request_count() const;
  // A header of the index-th chat request ("" if absent), e.g. header(0, "Authorization").
  std::string header(size_t index, const std::string& name) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

