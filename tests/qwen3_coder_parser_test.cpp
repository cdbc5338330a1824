// Qwen3CoderParser: formats, reasoning, malformed output, type conversion, and the
// streaming guarantee (any chunking gives the same reply as the whole text).
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "agent/qwen3_coder_parser.h"

using namespace nagent;

namespace {

json tool(const std::string& name, json properties, json required) {
  return {{"type", "function"},
          {"function",
           {{"name", name},
            {"description", name + " tool"},
            {"parameters", {{"type", "object"}, {"properties", std::move(properties)}, {"required", std::move(required)}}}}}};
}

json test_tools() {
  json tools = json::array();
  tools.push_back(tool("read_file",
                       {{"path", {{"type", "string"}}},
                        {"start_line", {{"type", "integer"}}},
                        {"end_line", {{"type", "integer"}}}},
                       {"path"}));
  tools.push_back(tool("shell", {{"command", {{"type", "string"}}}, {"timeout", {{"type", "number"}}}}, {"command"}));
  tools.push_back(tool("edit_file",
                       {{"path", {{"type", "string"}}}, {"old_str", {{"type", "string"}}}, {"new_str", {{"type", "string"}}}},
                       {"path", "old_str", "new_str"}));
  tools.push_back(tool("configure",
                       {{"verbose", {{"type", "boolean"}}},
                        {"tags", {{"type", "array"}, {"items", {{"type", "string"}}}}},
                        {"env", {{"type", "object"}}},
                        {"limit", {{"anyOf", json::array({{{"type", "integer"}}, {{"type", "null"}}})}}},
                        {"mode", {{"type", "string"}, {"enum", {"fast", "safe"}}}}},
                       json::array()));
  tools.push_back(tool("finish", json::object(), json::array()));
  return tools;
}

ParserOptions options(bool starts_in_reasoning = false) {
  ParserOptions o;
  o.starts_in_reasoning = starts_in_reasoning;
  o.tools = test_tools();
  o.aliases = {{"bash", "shell"}, {"str_replace", "edit_file"}, {"view", "read_file"}};
  return o;
}

// Everything a reply holds, as one comparable string.
std::string dump(const ParsedReply& r) {
  json j = {{"reasoning", r.reasoning}, {"content", r.content}, {"calls", json::array()}};
  for (const auto& c : r.calls)
    j["calls"].push_back({{"name", c.name}, {"arguments", c.arguments}, {"error", c.error}, {"raw", c.raw}});
  return j.dump(1);
}

struct Streamed {
  ParsedReply reply;
  std::string reasoning_events;
  std::string content_events;
  std::vector<size_t> completed;  // call indices in CallComplete order
  std::vector<std::pair<size_t, std::string>> begun;  // CallBegin: index and name
};

// Feeds text cut at the given offsets (ascending), collecting the live events.
Streamed stream(std::string_view text, const ParserOptions& o, const std::vector<size_t>& cuts) {
  Qwen3CoderParser parser(o);
  Streamed s;
  size_t at = 0;
  auto take = [&](const std::vector<ParserEvent>& events, const std::vector<ParsedCall>& calls) {
    for (const auto& e : events) {
      if (e.kind == ParserEvent::Reasoning) s.reasoning_events += e.text;
      if (e.kind == ParserEvent::Content) s.content_events += e.text;
      if (e.kind == ParserEvent::CallBegin) {
        REQUIRE(e.call_index == s.completed.size());  // it announces the next call to complete
        s.begun.emplace_back(e.call_index, e.text);
      }
      if (e.kind == ParserEvent::CallComplete) {
        REQUIRE(e.call_index < calls.size());
        s.completed.push_back(e.call_index);
      }
    }
  };
  for (size_t cut : cuts) {
    take(parser.feed(text.substr(at, cut - at)), parser.calls());
    at = cut;
  }
  take(parser.feed(text.substr(at)), parser.calls());
  std::vector<ParserEvent> last;
  s.reply = parser.finish(&last);
  take(last, s.reply.calls);
  return s;
}

ParsedReply parse(std::string_view text, bool starts_in_reasoning = false) {
  return Qwen3CoderParser::parse(text, options(starts_in_reasoning));
}

std::string call_text(const std::string& name, const std::vector<std::pair<std::string, std::string>>& params) {
  std::string s = "<tool_call>\n<function=" + name + ">\n";
  for (const auto& [k, v] : params) s += "<parameter=" + k + ">\n" + v + "\n</parameter>\n";
  return s + "</function>\n</tool_call>";
}

}  // namespace

TEST_CASE("a single call: name, typed arguments, raw text, content before it") {
  const std::string call = call_text("read_file", {{"path", "src/main.cpp"}, {"start_line", "10"}, {"end_line", "20"}});
  const auto r = parse("I'll read the file.\n\n" + call + "\n");
  REQUIRE(r.calls.size() == 1);
  CHECK(r.calls[0].name == "read_file");
  CHECK(r.calls[0].error == "");
  CHECK(r.calls[0].arguments == json({{"path", "src/main.cpp"}, {"start_line", 10}, {"end_line", 20}}));
  CHECK(r.calls[0].arguments["start_line"].is_number_integer());
  CHECK(r.calls[0].raw == call);
  CHECK(r.content == "I'll read the file.");
  CHECK(r.reasoning == "");
}

TEST_CASE("several calls: text before, between and after them is content, in order") {
  const std::string text = "First I look.\n" + call_text("read_file", {{"path", "a"}}) + "\nThen I run it.\n" +
                           call_text("shell", {{"command", "make"}}) + "\n" + call_text("finish", {}) +
                           "\nDone for now.";
  const auto r = parse(text);
  REQUIRE(r.calls.size() == 3);
  CHECK(r.calls[0].arguments == json({{"path", "a"}}));
  CHECK(r.calls[1].arguments == json({{"command", "make"}}));
  CHECK(r.calls[2].name == "finish");
  CHECK(r.calls[2].arguments == json::object());
  for (const auto& c : r.calls) CHECK(c.error == "");
  CHECK(r.content == "First I look.\n\nThen I run it.\n\nDone for now.");
}

TEST_CASE("values: exactly one leading and one trailing newline trimmed, the rest verbatim") {
  auto value_of = [](const std::string& raw_value) {
    const auto r = parse("<tool_call>\n<function=shell>\n<parameter=command>" + raw_value +
                         "</parameter>\n</function>\n</tool_call>");
    REQUIRE(r.calls.size() == 1);
    CHECK(r.calls[0].error == "");
    return r.calls[0].arguments["command"].get<std::string>();
  };
  CHECK(value_of("\nls -la\n") == "ls -la");
  CHECK(value_of("ls") == "ls");
  CHECK(value_of("\n\nls\n\n") == "\nls\n");
  CHECK(value_of("\n  indented\n\tline two\n\n  \n") == "  indented\n\tline two\n\n  ");
  CHECK(value_of("\n") == "");
  CHECK(value_of("\nnull\n") == "null");  // strings stay strings, even "null"
  CHECK(value_of("\nif (a < b && c > d) { x <<= 1; }\n") == "if (a < b && c > d) { x <<= 1; }");
}

TEST_CASE("values keep tag-like text that is not a structural close") {
  auto value_of = [](const std::string& body) {
    const auto r = parse("<tool_call>\n<function=edit_file>\n<parameter=path>\nt.md\n</parameter>\n"
                         "<parameter=old_str>\n" + body + "\n</parameter>\n<parameter=new_str>\nx\n</parameter>\n"
                         "</function>\n</tool_call>");
    REQUIRE(r.calls.size() == 1);
    CHECK(r.calls[0].error == "");
    CHECK(r.calls[0].arguments["new_str"] == "x");
    return r.calls[0].arguments["old_str"].get<std::string>();
  };
  // A close tag followed by something that does not continue the call is value text.
  CHECK(value_of("end with </parameter> then prose") == "end with </parameter> then prose");
  CHECK(value_of("a\n</parameter>\nmore text") == "a\n</parameter>\nmore text");
  CHECK(value_of("a</parameter></parameter>b") == "a</parameter></parameter>b");
  CHECK(value_of("x </function> y") == "x </function> y");
  CHECK(value_of("x </tool_call> y") == "x </tool_call> y");
  CHECK(value_of("<tool_call>\n<function=shell>") == "<tool_call>\n<function=shell>");
  CHECK(value_of("inline <parameter=path> is text") == "inline <parameter=path> is text");
  // At a line start, only a parameter the tool does not have stays text.
  CHECK(value_of("line\n<parameter=colour>\nred") == "line\n<parameter=colour>\nred");
  CHECK(value_of("<think>not reasoning</think>") == "<think>not reasoning</think>");
  CHECK(value_of("<<<<>>>></</p") == "<<<<>>>></</p");
}

TEST_CASE("missing close tags inside a call are recovered from the next structural tag") {
  SECTION("</parameter> left out before the next parameter") {
    const auto r = parse("<tool_call>\n<function=read_file>\n<parameter=path>\na.txt\n<parameter=start_line>\n3\n"
                         "</parameter>\n</function>\n</tool_call>");
    REQUIRE(r.calls.size() == 1);
    CHECK(r.calls[0].error == "");
    CHECK(r.calls[0].arguments == json({{"path", "a.txt"}, {"start_line", 3}}));
  }
  SECTION("</parameter> left out before </function>") {
    const auto r = parse("<tool_call>\n<function=shell>\n<parameter=command>\nls\n</function>\n</tool_call>");
    REQUIRE(r.calls.size() == 1);
    CHECK(r.calls[0].error == "");
    CHECK(r.calls[0].arguments == json({{"command", "ls"}}));
  }
  SECTION("</parameter> and </function> left out before </tool_call>") {
    const auto r = parse("<tool_call>\n<function=shell>\n<parameter=command>\nls\n</tool_call>\n<tool_call>\n"
                         "<function=shell>\n<parameter=command>\npwd\n</tool_call>\n");
    REQUIRE(r.calls.size() == 2);
    CHECK(r.calls[0].error == "");
    CHECK(r.calls[0].arguments == json({{"command", "ls"}}));
    CHECK(r.calls[1].error == "");
    CHECK(r.calls[1].arguments == json({{"command", "pwd"}}));
  }
  SECTION("a </tool_call> followed by prose is value text: the call stays open") {
    const auto r = parse("<tool_call>\n<function=shell>\n<parameter=command>\nls\n</tool_call>\nok");
    REQUIRE(r.calls.size() == 1);
    CHECK_THAT(r.calls[0].error, Catch::Contains("the reply ended inside the value of parameter 'command'"));
    CHECK(r.calls[0].arguments["command"] == "ls\n</tool_call>\nok");
  }
  SECTION("</function> left out before </tool_call>") {
    const auto r = parse("<tool_call>\n<function=shell>\n<parameter=command>\nls\n</parameter>\n</tool_call>");
    REQUIRE(r.calls.size() == 1);
    CHECK(r.calls[0].error == "");
  }
  SECTION("</tool_call> left out after </function>") {
    const auto r = parse("<tool_call>\n<function=shell>\n<parameter=command>\nls\n</parameter>\n</function>\nafter");
    REQUIRE(r.calls.size() == 1);
    CHECK(r.calls[0].error == "");
    CHECK(r.content == "after");
  }
}

TEST_CASE("bare <function=...> without <tool_call> still parses (vLLM back-off)") {
  const auto r = parse("Running it.\n<function=shell>\n<parameter=command>\nmake test\n</parameter>\n</function>\n"
                       "<function=finish>\n</function>");
  REQUIRE(r.calls.size() == 2);
  CHECK(r.calls[0].name == "shell");
  CHECK(r.calls[0].arguments == json({{"command", "make test"}}));
  CHECK(r.calls[1].name == "finish");
  CHECK(r.calls[0].error == "");
  CHECK(r.calls[1].error == "");
  CHECK(r.content == "Running it.");
}

TEST_CASE("prose that mentions <function=...> mid-line is content, not a call") {
  const auto r = parse("Call tools with <function=NAME> blocks.\nAlso <tool_call> opens one, but not here");
  CHECK(r.calls.size() == 1);  // <tool_call> always opens a call...
  CHECK(r.content == "Call tools with <function=NAME> blocks.\nAlso");
  CHECK_THAT(r.calls[0].error, Catch::Contains("unexpected text 'opens one, but not here'"));  // ...and says why
  const auto after_think = parse("plan</think><function=finish>\n</function>", true);
  CHECK(after_think.calls.size() == 1);  // a piece of content may start with one
  CHECK(after_think.calls[0].error == "");
}

TEST_CASE("two functions inside one <tool_call> become two calls") {
  const auto r = parse("<tool_call>\n<function=shell>\n<parameter=command>\na\n</parameter>\n</function>\n"
                       "<function=shell>\n<parameter=command>\nb\n</parameter>\n</function>\n</tool_call>");
  REQUIRE(r.calls.size() == 2);
  CHECK(r.calls[0].arguments["command"] == "a");
  CHECK(r.calls[1].arguments["command"] == "b");
  CHECK(r.calls[1].error == "");
}

TEST_CASE("reasoning") {
  SECTION("explicit <think> block") {
    const auto r = parse("<think>\nLet me think.\n</think>\n\nThe answer is 4.");
    CHECK(r.reasoning == "Let me think.");
    CHECK(r.content == "The answer is 4.");
  }
  SECTION("reply starts inside reasoning (prompt ended with <think>)") {
    const auto r = parse("Let me think.\n</think>\nThe answer is 4.", true);
    CHECK(r.reasoning == "Let me think.");
    CHECK(r.content == "The answer is 4.");
  }
  SECTION("<tool_call> ends reasoning when </think> is missing (Nemotron Super)") {
    const auto r = parse("I should read it.\n" + call_text("read_file", {{"path", "x"}}) + "\n", true);
    CHECK(r.reasoning == "I should read it.");
    CHECK(r.content == "");
    REQUIRE(r.calls.size() == 1);
    CHECK(r.calls[0].arguments == json({{"path", "x"}}));
  }
  SECTION("reasoning never closed and nothing else: surfaced as content") {
    const auto r = parse("Just an answer with no tags.", true);
    CHECK(r.reasoning == "");
    CHECK(r.content == "Just an answer with no tags.");
  }
  SECTION("text around <think> blocks is content; the blocks are joined as reasoning") {
    const auto r = parse("Hi.\n<think>a</think>\nMid.\n<think>\nb\n</think>End");
    CHECK(r.reasoning == "a\n\nb");
    CHECK(r.content == "Hi.\n\nMid.\n\nEnd");
  }
  SECTION("an explicit <think> never closed, with nothing else, is surfaced as content too") {
    const auto r = parse("<think>only this");
    CHECK(r.reasoning == "");
    CHECK(r.content == "only this");
  }
  SECTION("thinking off: no tags, all content") {
    const auto r = parse("Hello there.");
    CHECK(r.reasoning == "");
    CHECK(r.content == "Hello there.");
  }
  SECTION("reasoning then call then answer") {
    const auto r = parse("plan</think>\nDoing it.\n" + call_text("finish", {}) + "\n", true);
    CHECK(r.reasoning == "plan");
    CHECK(r.content == "Doing it.");
    CHECK(r.calls.size() == 1);
  }
  SECTION("tags in reasoning other than </think> and <tool_call> are reasoning text") {
    const auto r = parse("compare <think> and </parameter> and <function=x>\n</think>ok", true);
    CHECK(r.reasoning == "compare <think> and </parameter> and <function=x>");
    CHECK(r.content == "ok");
  }
}

TEST_CASE("aliases resolve before the lookup, and ParsedCall::name is the target") {
  const auto r = parse(call_text("bash", {{"command", "ls"}}) + call_text("view", {{"path", "a"}, {"start_line", "2"}}) +
                       call_text("str_replace", {{"path", "a"}, {"old_str", "x"}, {"new_str", "y"}}));
  REQUIRE(r.calls.size() == 3);
  CHECK(r.calls[0].name == "shell");
  CHECK(r.calls[1].name == "read_file");
  CHECK(r.calls[1].arguments["start_line"] == 2);  // converted with the target's schema
  CHECK(r.calls[2].name == "edit_file");
  for (const auto& c : r.calls) CHECK(c.error == "");
}

TEST_CASE("schema errors name the problem and the fix") {
  auto error_of = [](const std::string& text) {
    const auto r = parse(text);
    REQUIRE(r.calls.size() == 1);
    return r.calls[0].error;
  };
  SECTION("unknown tool lists the available tools") {
    const std::string e = error_of(call_text("run_command", {{"command", "ls"}}));
    CHECK_THAT(e, Catch::Contains("unknown tool 'run_command'"));
    CHECK_THAT(e, Catch::Contains("available tools: read_file, shell, edit_file, configure, finish"));
  }
  SECTION("unknown parameter lists the real ones") {
    const std::string e = error_of(call_text("read_file", {{"file", "a"}, {"path", "a"}}));
    CHECK_THAT(e, Catch::Contains("unknown parameter 'file'"));
    CHECK_THAT(e, Catch::Contains("unknown parameter 'file' (read_file takes: path (required), start_line, end_line)"));
  }
  SECTION("a misspelt parameter after </parameter> is reported, not swallowed into the previous value") {
    const auto r = parse(call_text("read_file", {{"path", "a"}, {"strat_line", "3"}}));
    REQUIRE(r.calls.size() == 1);
    CHECK(r.calls[0].arguments["path"] == "a");
    CHECK_THAT(r.calls[0].error, Catch::Contains("unknown parameter 'strat_line'"));
  }
  SECTION("missing required parameter") {
    CHECK_THAT(error_of(call_text("edit_file", {{"path", "a"}, {"old_str", "x"}})),
               Catch::Contains("missing required parameter 'new_str'"));
  }
  SECTION("wrong type") {
    CHECK_THAT(error_of(call_text("read_file", {{"path", "a"}, {"start_line", "ten"}})),
               Catch::Contains("parameter 'start_line' of read_file must be an integer, got 'ten'"));
  }
  SECTION("duplicate parameter") {
    CHECK_THAT(error_of(call_text("shell", {{"command", "a"}, {"command", "b"}})),
               Catch::Contains("parameter 'command' is given more than once"));
  }
  SECTION("parameters of a tool that takes none") {
    CHECK_THAT(error_of(call_text("finish", {{"summary", "done"}})),
               Catch::Contains("unknown parameter 'summary' (finish takes no parameters)"));
  }
  SECTION("several problems are all reported, in one message") {
    CHECK(error_of(call_text("read_file", {{"start_line", "ten"}, {"file", "a"}})) ==
          "tool call 'read_file': parameter 'start_line' of read_file must be an integer, got 'ten'; "
          "unknown parameter 'file' (read_file takes: path (required), start_line, end_line); "
          "missing required parameter 'path'.");
  }
  SECTION("structural errors end with the expected format") {
    CHECK(error_of("<tool_call>\n</tool_call>") ==
          "malformed tool call: empty <tool_call>: no <function=NAME> inside. Write each call as:\n<tool_call>\n"
          "<function=NAME>\n<parameter=NAME>\nVALUE\n</parameter>\n</function>\n</tool_call>");
  }
}

TEST_CASE("a schema with additionalProperties accepts other names as strings") {
  ParserOptions o;
  o.tools = json::array({{{"type", "function"},
                          {"function",
                           {{"name", "env"},
                            {"parameters",
                             {{"type", "object"},
                              {"properties", {{"n", {{"type", "integer"}}}}},
                              {"additionalProperties", true}}}}}}});
  const auto r = Qwen3CoderParser::parse(call_text("env", {{"n", "5"}, {"HOME", "/root"}}), o);
  REQUIRE(r.calls.size() == 1);
  CHECK(r.calls[0].error == "");
  CHECK(r.calls[0].arguments == json({{"n", 5}, {"HOME", "/root"}}));
}

TEST_CASE("no tool list: any name accepted, every value a string") {
  ParserOptions o;
  const auto r = Qwen3CoderParser::parse(call_text("anything", {{"n", "5"}, {"flag", "true"}}), o);
  REQUIRE(r.calls.size() == 1);
  CHECK(r.calls[0].error == "");
  CHECK(r.calls[0].arguments == json({{"n", "5"}, {"flag", "true"}}));
}

namespace {
// Malformed inputs: each must give exactly one call whose error holds every listed piece.
struct Malformed {
  const char* text;
  std::vector<const char*> expect;
};
const std::vector<Malformed> kMalformed = {
    {"<tool_call>\n<function=read_file>\n<parameter=path>\na.txt",
     {"the reply ended inside the value of parameter 'path'", "Write each call as:"}},
    {"<tool_call>\n<function=read_file>\n<parameter=path>\na.txt\n</parameter>\n",
     {"the reply ended before </function>"}},
    {"<tool_call>\n<function=read_file>\n<parameter=pa", {"the reply ended inside <parameter=pa"}},
    {"<tool_call>\n<function=rea", {"the reply ended inside <function=rea"}},
    {"<tool_call>", {"the reply ended right after <tool_call>"}},
    {"<tool_call>\n</tool_call>", {"empty <tool_call>: no <function=NAME> inside"}},
    {"<tool_call>\n<function=>\n</function>\n</tool_call>", {"<function=> has no function name"}},
    {"<tool_call>\n<function=read file>\n</function>\n</tool_call>", {"invalid function name 'read file'"}},
    {"<tool_call>\n<function=read_file\n<parameter=path>\na\n</parameter>\n</function>\n</tool_call>",
     {"missing '>' after <function=read_file"}},
    {"<tool_call>\n<function=read_file>\n<parameter=path\na\n</parameter>\n</function>\n</tool_call>",
     {"missing '>' after <parameter=path"}},
    {"<tool_call>\n<function=read_file>\n<parameter=>\na\n</parameter>\n</function>\n</tool_call>",
     {"<parameter=> has no parameter name", "missing required parameter 'path'"}},
    {"<tool_call>\n<function=read_file>\n<parameter=file path>\na\n</parameter>\n</function>\n</tool_call>",
     {"invalid parameter name 'file path'"}},
    {"<tool_call>\nplease read it\n<function=read_file>\n<parameter=path>\na\n</parameter>\n</function>\n</tool_call>",
     {"unexpected text 'please read it' after <tool_call> (expected <function=NAME>)"}},
    {"<tool_call>\n<function=read_file>\noops\n<parameter=path>\na\n</parameter>\n</function>\n</tool_call>",
     {"unexpected text 'oops' between parameters of <function=read_file>"}},
    {"<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\"}}\n</tool_call>",
     {"unexpected text '{\"name\": \"read_file\"", "Write each call as:\n<tool_call>\n<function=NAME>"}},
    {"<tool_call>\n<function=read_file>\n<parameter path=\"a\"/>\n</function>\n</tool_call>",
     {"unexpected text '<parameter path=\"a\"/>' between parameters"}},
    {"<function=shell>\n<parameter=command>\nls\n</parameter>\n", {"the reply ended before </function>"}},
};
}  // namespace

TEST_CASE("malformed calls become precise errors, never exceptions") {
  for (const auto& m : kMalformed) {
    INFO("input: " << m.text);
    ParsedReply r;
    REQUIRE_NOTHROW(r = parse(m.text));
    REQUIRE(r.calls.size() == 1);
    for (const char* piece : m.expect) CHECK_THAT(r.calls[0].error, Catch::Contains(piece));
    CHECK(r.calls[0].raw == m.text);  // the whole call is kept for the log
  }
}

TEST_CASE("convert_parameter: the type table") {
  struct Row {
    const char* raw;
    json schema;
    json expect;  // null with expect_error set: conversion must fail
    const char* expect_error = nullptr;
  };
  const json integer = {{"type", "integer"}}, number = {{"type", "number"}}, boolean = {{"type", "boolean"}};
  const json object = {{"type", "object"}}, array = {{"type", "array"}}, string = {{"type", "string"}};
  const json nullable_int = {{"anyOf", json::array({{{"type", "integer"}}, {{"type", "null"}}})}};
  const std::vector<Row> rows = {
      {"42", integer, 42},
      {" -7\n", integer, -7},
      {"+3", integer, 3},
      {"5.0", integer, 5},
      {"18446744073709551615", integer, json(18446744073709551615ULL)},
      {"ten", integer, nullptr, "must be an integer, got 'ten'"},
      {"5.5", integer, nullptr, "must be an integer, got '5.5'"},
      {"", integer, nullptr, "must be an integer, got ''"},
      {"99999999999999999999999", integer, nullptr, "must be an integer"},
      {"2.5", number, 2.5},
      {"1e3", number, 1000.0},
      {"7", number, 7},
      {"nan", number, nullptr, "must be a number, got 'nan'"},
      {"1.2.3", number, nullptr, "must be a number"},
      {"true", boolean, true},
      {"False", boolean, false},  // Python repr, as the chat template renders history
      {"yes", boolean, nullptr, "must be true or false, got 'yes'"},
      {"{\"a\": [1, 2]}", object, {{"a", {1, 2}}}},
      {"[1, \"x\"]", array, {1, "x"}},
      {"\"[1, 2]\"", array, {1, 2}},  // double-encoded JSON is unwrapped once
      {"[1, 2", array, nullptr, "must be a JSON array, got '[1, 2' (not valid JSON)"},
      // Python reprs (what the model has seen for lists and dicts) are read as JSON.
      {"['a', \"b\"]", array, {"a", "b"}},
      {"{'k': True, 'n': None, 'f': False}", object, {{"k", true}, {"n", nullptr}, {"f", false}}},
      {"{'it\\'s': 'say \"hi\"'}", object, {{"it's", "say \"hi\""}}},
      {"['a', Tru]", array, nullptr, "must be a JSON array, got '['a', Tru]' (not valid JSON)"},
      {"['a]", array, nullptr, "must be a JSON array"},
      {"{\"a\": 1}", array, nullptr, "must be a JSON array, got '{\"a\": 1}' (JSON object)"},
      {"  spaced  ", string, "  spaced  "},
      {"null", string, "null"},
      {"null", nullable_int, nullptr},
      {"None", nullable_int, nullptr},
      {"12", nullable_int, 12},
      {"x", nullable_int, nullptr, "must be an integer or null, got 'x'"},
      {"null", {{"type", json::array({"string", "null"})}}, nullptr},
      {"3", {{"type", json::array({"integer", "string"})}}, 3},
      {"three", {{"type", json::array({"integer", "string"})}}, "three"},
      {"3", {{"type", "number"}, {"nullable", true}}, 3},
      {"fast", {{"type", "string"}, {"enum", {"fast", "safe"}}}, "fast"},
      {"quick", {{"type", "string"}, {"enum", {"fast", "safe"}}}, nullptr, "must be one of [\"fast\",\"safe\"], got 'quick'"},
      {"2", {{"type", "integer"}, {"enum", {1, 2}}}, 2},
      {"anything <at> all", json::object(), "anything <at> all"},
      {"12", {{"type", "int32"}}, 12},
      {"0.5", {{"type", "float"}}, 0.5},
      {"[\"a\"]", {{"type", "list"}}, {"a"}},
  };
  for (const auto& row : rows) {
    INFO("raw: " << row.raw << " schema: " << row.schema.dump());
    std::string error;
    const auto v = convert_parameter(row.raw, row.schema, error);
    if (row.expect_error) {
      CHECK_FALSE(v.has_value());
      CHECK_THAT(error, Catch::StartsWith(row.expect_error));
    } else {
      REQUIRE(v.has_value());
      CHECK(*v == row.expect);
      CHECK(v->type() == row.expect.type());
    }
  }
}

namespace {
// Texts for the chunking fuzz: well-formed, malformed, reasoning, tag-like values.
std::vector<std::pair<std::string, bool>> fuzz_corpus() {
  std::vector<std::pair<std::string, bool>> texts = {
      {"Plan first.</think>\nLet me look.\n" + call_text("read_file", {{"path", "a b"}, {"start_line", "3"}}) +
           "\nthen\n" + call_text("bash", {{"command", "echo '</parameter>' > x\n</function> ok"}}) + "\n",
       true},
      {"<think>\nhm <tool_ <think> </thin\n</think>  \n\n answer <b>bold</b> <tool_call>\n<function=shell>\n"
       "<parameter=command>\nx</parameter>\n\n\n</parameter>   \n</function> \n </tool_call>  tail <",
       false},
      {"no close <tool_call>\n<function=edit_file>\n<parameter=path>\np\n<parameter=old_str>\n<parameter=zzz>\n"
       "</parameter>\n<parameter=new_str>\nn\n</function>\n</tool_call>",
       false},
      {"<function=configure>\n<parameter=tags>\n[\"a\",\"b\"]\n</parameter>\n<parameter=limit>\nNone\n</parameter>\n"
       "<parameter=verbose>\nTrue\n</parameter>\n</function>\n</tool_call>\n<function=finish></function>",
       false},
      {"reasoning only, never closed <tool", true},
      {"Use <function=NAME> blocks.\n<function=finish>\n</function>\nthen x <function=shell> y\n<function=shell>", false},
      {"x</think><tool_call><function=read_file><parameter=path>a</parameter></function></tool_call><tool_call>"
       "<function=read_file><parameter=path>b</parameter><parameter=path>c</parameter></function></tool_call>",
       true},
  };
  for (const auto& m : kMalformed) texts.emplace_back(m.text, false);
  return texts;
}
}  // namespace

TEST_CASE("chunking never changes the result: every split point, bytewise, random multi-splits") {
  std::mt19937 rng(1234);
  for (const auto& [text, in_reasoning] : fuzz_corpus()) {
    INFO("text: " << text);
    const ParserOptions o = options(in_reasoning);
    const ParsedReply whole = Qwen3CoderParser::parse(text, o);
    const std::string expected = dump(whole);
    const bool swapped = in_reasoning && whole.reasoning.empty() && whole.calls.empty() && !whole.content.empty();

    auto check = [&](const std::vector<size_t>& cuts) {
      const Streamed s = stream(text, o, cuts);
      REQUIRE(dump(s.reply) == expected);
      // Live events add up to the final text; unclosed reasoning that became content was
      // shown as reasoning, then once more as content at the end.
      REQUIRE(s.content_events == whole.content);
      REQUIRE(s.reasoning_events == (swapped ? whole.content : whole.reasoning));
      REQUIRE(s.completed.size() == whole.calls.size());
      for (size_t i = 0; i < s.completed.size(); ++i) REQUIRE(s.completed[i] == i);
      for (const auto& [index, name] : s.begun) REQUIRE(whole.calls.at(index).name == name);
    };
    for (size_t cut = 0; cut <= text.size(); ++cut) check({cut});
    std::vector<size_t> bytewise;
    for (size_t i = 1; i < text.size(); ++i) bytewise.push_back(i);
    check(bytewise);
    for (int trial = 0; trial < 200; ++trial) {
      std::vector<size_t> cuts;
      const size_t n = std::uniform_int_distribution<size_t>(1, 12)(rng);
      for (size_t i = 0; i < n; ++i) cuts.push_back(std::uniform_int_distribution<size_t>(0, text.size())(rng));
      std::sort(cuts.begin(), cuts.end());
      check(cuts);
    }
  }
}

TEST_CASE("random tag soup: never throws, and chunking never changes the result") {
  // Texts stitched from tag fragments, names and whitespace hit the odd corners of the
  // state machine (tags cut in two, tags in names, closes in every order).
  static const char* tokens[] = {"<tool_call>", "</tool_call>", "<function=", "</function>", "<parameter=",
                                 "</parameter>", "<think>", "</think>", "read_file", "path", "start_line", "shell",
                                 "command", "x", "12", "\n", "\n", " ", ">", "<", "/", "=", "<tool", "</para", "\"",
                                 "bash", "<function=shell>\n", "<parameter=path>\n"};
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    std::string text;
    const int n = std::uniform_int_distribution<int>(1, 40)(rng);
    for (int k = 0; k < n; ++k) text += tokens[std::uniform_int_distribution<int>(0, 27)(rng)];
    const bool in_reasoning = i % 2 == 1;
    INFO("text: " << text);
    ParsedReply whole;
    REQUIRE_NOTHROW(whole = parse(text, in_reasoning));
    for (const auto& c : whole.calls) REQUIRE(c.raw.size() <= text.size());
    const std::string expected = dump(whole);
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<size_t> cuts;
      for (int k = std::uniform_int_distribution<int>(1, 8)(rng); k > 0; --k)
        cuts.push_back(std::uniform_int_distribution<size_t>(0, text.size())(rng));
      std::sort(cuts.begin(), cuts.end());
      REQUIRE(dump(stream(text, options(in_reasoning), cuts).reply) == expected);
    }
  }
}

TEST_CASE("streaming: certain text is emitted at once, partial tags are held back only until decided") {
  Qwen3CoderParser parser(options());
  auto text_of = [](const std::vector<ParserEvent>& events) {
    std::string s;
    for (const auto& e : events) s += e.text;
    return s;
  };
  CHECK(text_of(parser.feed("Hello wor")) == "Hello wor");
  CHECK(text_of(parser.feed("ld. <tool")) == "ld.");  // " <tool" could still open a call
  CHECK(text_of(parser.feed("box>")) == " <toolbox>");  // it did not
  auto begin = parser.feed("\n<tool_call>\n<function=bash>");
  REQUIRE(begin.size() == 1);  // the name is known before the arguments arrive
  CHECK(begin[0].kind == ParserEvent::CallBegin);
  CHECK(begin[0].text == "shell");  // alias resolved
  CHECK(begin[0].call_index == 0);
  CHECK(parser.feed("\n<parameter=command>\nls\n</parameter>\n</fun").empty());
  auto events = parser.feed("ction>\n</tool_call>");
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == ParserEvent::CallComplete);
  REQUIRE(parser.calls().size() == 1);
  CHECK(parser.calls()[0].arguments == json({{"command", "ls"}}));
  const auto r = parser.finish();
  CHECK(r.content == "Hello world. <toolbox>");
  CHECK(r.calls.size() == 1);
}

TEST_CASE("huge values with tag-like text survive any chunking intact") {
  std::mt19937 rng(99);
  std::string value;
  const char* pieces[] = {"template <typename T> ", "a </parameter> b ", "</function>x ", "<tool_call> ",
                          "</tool_call>y ", "\n<parameter=colour>\n", "plain text ", "<", "\n"};
  while (value.size() < 4 * 1024 * 1024) value += pieces[std::uniform_int_distribution<int>(0, 8)(rng)];
  value += "end";
  const std::string text = "writing\n" + call_text("edit_file", {{"path", "big.txt"}, {"old_str", value}, {"new_str", ""}});

  const auto whole = parse(text);
  REQUIRE(whole.calls.size() == 1);
  CHECK(whole.calls[0].error == "");
  CHECK(whole.calls[0].arguments["old_str"].get<std::string>() == value);
  CHECK(whole.calls[0].arguments["new_str"] == "");
  CHECK(whole.calls[0].raw.size() + 8 == text.size());

  std::vector<size_t> cuts;
  for (size_t at = 0;;) {
    at += std::uniform_int_distribution<size_t>(1, 4096)(rng);
    if (at >= text.size()) break;
    cuts.push_back(at);
  }
  CHECK(dump(stream(text, options(), cuts).reply) == dump(whole));
}
