// Nemotron 3 chat template: the native renderer against renderings of the Jinja template
// (scripts/chat_template_reference/nemotron3_chat_template.jinja) made with transformers'
// apply_chat_template, kept byte for byte in tests/fixtures/chat_template/expected/.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/chat_template.h"
#include "engine/chat_template_python.h"
#include "engine/incremental_prompt.h"

namespace fs = std::filesystem;
using nagent::json;

namespace {
const fs::path kFixtures = fs::path(NAGENT_SOURCE_DIR) / "tests/fixtures/chat_template";

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE(in.good());
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

nagent::ChatRequest request_of(const json& conv) {
  nagent::ChatRequest req;
  for (const auto& m : conv["messages"]) req.messages.push_back(nagent::message_from_json(m));
  req.tools = conv["tools"];
  const json& kwargs = conv["kwargs"];
  req.enable_thinking = kwargs.value("enable_thinking", true);
  req.extra_template_kwargs = kwargs;
  return req;
}
}  // namespace

TEST_CASE("renders every fixture conversation byte-identical to apply_chat_template", "[chat_template]") {
  const json conversations = json::parse(read_file(kFixtures / "conversations.json"));
  REQUIRE(conversations.size() >= 30);
  size_t expected_files = std::distance(fs::directory_iterator(kFixtures / "expected"), fs::directory_iterator());
  CHECK(expected_files == conversations.size());
  for (const auto& conv : conversations) {
    const std::string name = conv["name"];
    INFO("conversation " << name);
    const std::string expected = read_file(kFixtures / "expected" / (name + ".txt"));
    CHECK(nagent::render_nemotron3_prompt(request_of(conv), conv["add_generation_prompt"].get<bool>()) == expected);
  }
}

TEST_CASE("template kwargs come from the request and must be booleans", "[chat_template]") {
  nagent::ChatRequest req;
  req.messages = {nagent::Message::user("hi")};
  req.enable_thinking = false;
  CHECK(nagent::render_nemotron3_prompt(req) ==
        "<|im_start|>system\n<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think></think>");
  req.extra_template_kwargs = {{"truncate_history_thinking", "yes"}};
  CHECK_THROWS_WITH(nagent::render_nemotron3_prompt(req), Catch::Contains("'truncate_history_thinking' must be true or false"));
}

TEST_CASE("tool call arguments must be an object", "[chat_template]") {
  nagent::Message m;
  m.role = "assistant";
  m.tool_calls.push_back({"c1", "run", json("{\"a\": 1}")});
  CHECK_THROWS_WITH(nagent::render_nemotron3_prompt({nagent::Message::user("x"), m}, json::array(), {}),
                    Catch::Contains("tool call 'run': arguments must be a JSON object"));
}

// Expected strings are what CPython 3.11 prints for the same values.
TEST_CASE("Python formatting of float repr and str and json.dumps and strip", "[chat_template][python]") {
  using nagent::py::float_repr;
  CHECK(float_repr(1.0) == "1.0");
  CHECK(float_repr(0.1) == "0.1");
  CHECK(float_repr(-2.5) == "-2.5");
  CHECK(float_repr(1e16) == "1e+16");
  CHECK(float_repr(1e15) == "1000000000000000.0");
  CHECK(float_repr(123456789.125) == "123456789.125");
  CHECK(float_repr(0.0001) == "0.0001");
  CHECK(float_repr(0.00001) == "1e-05");
  CHECK(float_repr(1.5e-300) == "1.5e-300");
  CHECK(float_repr(-0.0) == "-0.0");
  CHECK(float_repr(2.0 / 3.0) == "0.6666666666666666");
  CHECK(float_repr(1e22) == "1e+22");
  CHECK(float_repr(12345678901234567.0) == "1.2345678901234568e+16");

  CHECK(nagent::py::str(json(true)) == "True");
  CHECK(nagent::py::str(json(nullptr)) == "None");
  CHECK(nagent::py::str(json("plain")) == "plain");
  CHECK(nagent::py::str(json::parse(R"(["string", "null"])")) == "['string', 'null']");
  CHECK(nagent::py::str(json::parse(R"({"a": [1, 2.0, false], "it's": "say \"hi\""})")) ==
        R"({'a': [1, 2.0, False], "it's": 'say "hi"'})");
  CHECK(nagent::py::repr(json("both ' and \"")) == R"('both \' and "')");
  CHECK(nagent::py::repr(json("tab\there\nnbsp\xC2\xA0\xE2\x80\xA8")) == R"('tab\there\nnbsp\xa0\u2028')");

  CHECK(nagent::py::json_dumps(json::parse(R"({"k": ["é", 1.0, null, {"x": "\n\u0001"}]})")) ==
        "{\"k\": [\"\xC3\xA9\", 1.0, null, {\"x\": \"\\n\\u0001\"}]}");

  CHECK(nagent::py::strip(" \t\n\xC2\xA0x y\xE3\x80\x80\x1f") == "x y");
  CHECK(nagent::py::strip("\xE2\x80\x8Bx") == "\xE2\x80\x8Bx");  // U+200B is not whitespace
}

TEST_CASE("incremental rendering equals the full rendering at every step of every fixture conversation",
          "[chat_template][incremental]") {
  const json conversations = json::parse(read_file(kFixtures / "conversations.json"));
  size_t reused_somewhere = 0;
  for (const auto& conv : conversations) {
    INFO("conversation " << conv["name"].get<std::string>());
    const nagent::ChatRequest whole = request_of(conv);
    nagent::IncrementalPrompt prompt;
    nagent::ChatRequest growing = whole;
    growing.messages.clear();
    for (size_t n = 1; n <= whole.messages.size(); ++n) {
      growing.stable_prefix_messages = growing.messages.size();  // appended only
      growing.messages.push_back(whole.messages[n - 1]);
      std::string expected;
      try {
        expected = nagent::render_nemotron3_prompt(growing);
      } catch (const std::invalid_argument&) {
        CHECK_THROWS(prompt.render(growing));
        break;
      }
      CHECK(prompt.render(growing) == expected);
      reused_somewhere += prompt.reused_chars() > 0 && n > 2;
    }
    // A rewrite of the middle (a compaction) with the stable prefix said: rendered anew.
    if (growing.messages.size() > 3) {
      growing.messages[2].content = "rewritten";
      growing.stable_prefix_messages = 2;
      CHECK(prompt.render(growing) == nagent::render_nemotron3_prompt(growing));
    }
  }
  CHECK(reused_somewhere > 0);
}

TEST_CASE("IncrementalPrompt: another conversation's first turn gets its own system prompt") {
  nagent::IncrementalPrompt prompt;
  nagent::ChatRequest a, b;
  a.messages = {nagent::Message::system("Be brief."), nagent::Message::user("Question 1")};
  b.messages = {nagent::Message::system("Answer in French."), nagent::Message::user("Question 2")};
  CHECK(prompt.render(a) == nagent::render_nemotron3_prompt(a));
  CHECK(prompt.render(b) == nagent::render_nemotron3_prompt(b));  // was rendered under a's system turn
  b.messages[0] = nagent::Message::system("Answer in Dutch.");    // same size
  CHECK(prompt.render(b) == nagent::render_nemotron3_prompt(b));
}
