// Tests for the OpenAI-compatible backend (engine/openai_client.h), over real sockets
// against the ScriptedServer test double.
#include <catch2/catch.hpp>

#include <httplib.h>

#include "support/scripted_server.h"

using nagent::json;

TEST_CASE("ScriptedServer streams a scripted reply and reports an empty queue", "[scripted_server]") {
  ScriptedServer server;
  server.push({.reasoning = "think", .content = "héllo wörld"});
  httplib::Client http("127.0.0.1", server.port());
  auto res = http.Post("/v1/chat/completions", R"({"model":"m","messages":[]})", "application/json");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->get_header_value("Content-Type").find("text/event-stream") != std::string::npos);
  CHECK(res->body.find(R"("reasoning_content":"think")") != std::string::npos);
  CHECK(res->body.find("data: [DONE]") != std::string::npos);
  CHECK(server.request_count() == 1);
  CHECK(server.requests()[0]["model"] == "m");

  auto empty = http.Post("/v1/chat/completions", "{}", "application/json");
  REQUIRE(empty);
  CHECK(empty->status == 500);
  CHECK(empty->body.find("no reply scripted for chat request #2") != std::string::npos);

  auto models = http.Get("/v1/models");
  REQUIRE(models);
  CHECK(json::parse(models->body)["data"][0]["id"] == "scripted-model");
}
