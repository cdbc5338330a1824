// Incremental parser for what a Nemotron 3 / Qwen3-Coder model writes: reasoning
// (<think>...</think>), visible content, and qwen3_coder tool calls:
//   <tool_call>\n<function=NAME>\n<parameter=P>\nVALUE\n</parameter>\n</function>\n</tool_call>
// Feed it chunks as they stream in; the result never depends on where the chunks split,
// and each byte is examined a bounded number of times (no re-scan from the start).
//
// Rules (docs: the comment at the top of qwen3_coder_parser.cpp has the full list):
//  - A close tag inside a parameter value is structural only when what follows it (after
//    whitespace) continues the call: `</parameter>` before `<parameter=`, `</function>`,
//    `</tool_call>` or the end; anything else keeps the tag as value text.
//  - One leading and one trailing newline are trimmed from a value; nothing else.
//  - Content and reasoning are trimmed at the edges of each piece (a piece ends at a tag);
//    pieces of one kind are joined with a blank line.
//  - <function=...> without <tool_call> is a call too when it starts a line (vLLM back-off).
//  - Malformed calls never throw: they come back with ParsedCall::error set to a message
//    the model can act on.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/chat.h"

namespace nagent {

struct ParserOptions {
  // True when the prompt ended inside reasoning (generation prompt "<think>\n"): text is
  // reasoning until </think> or the first <tool_call>. If the reply ends without either,
  // the text is surfaced as content instead (a model that never closed its reasoning;
  // finish() then reports the whole text as one Content event).
  bool starts_in_reasoning = false;
  // OpenAI function schemas ([{type:"function", function:{name, parameters}}]) used to
  // type-convert parameter values and to report unknown tools / parameters. Empty: every
  // function name is accepted and every value stays a string.
  json tools = json::array();
  // Other harnesses' tool names the model may use ("bash" -> "shell"): resolved before the
  // lookup in tools; ParsedCall::name then holds the target name.
  std::map<std::string, std::string> aliases;
};

struct ParsedCall {
  std::string name;            // after alias resolution (empty when no name was written)
  json arguments = json::object();
  std::string error;           // empty: well-formed; else a precise message for the model
  std::string raw;             // the call's text as written, for logs
};

struct ParsedReply {
  std::string reasoning;
  std::string content;         // text outside tool calls, pieces joined in order
  std::vector<ParsedCall> calls;
};

// Streaming events for live display.
struct ParserEvent {
  // CallBegin: a call's function name has been read (text: the name, after aliases), so a
  // display can show "calling edit_file..." while a long value streams in; its
  // CallComplete follows with the same call_index.
  enum Kind { Reasoning, Content, CallBegin, CallComplete } kind;
  std::string text;            // Reasoning/Content: the new text; CallBegin: the name
  size_t call_index = 0;       // CallBegin/CallComplete: index into calls() (and ParsedReply::calls)
};

class Qwen3CoderParser {
 public:
  explicit Qwen3CoderParser(ParserOptions options = {});
  ~Qwen3CoderParser();
  Qwen3CoderParser(Qwen3CoderParser&&) noexcept;
  Qwen3CoderParser& operator=(Qwen3CoderParser&&) noexcept;

  // Consumes a chunk; returns events for the text that is now certain.
  std::vector<ParserEvent> feed(std::string_view chunk);
  // Ends the stream (unclosed tags become errors on their calls) and returns the result.
  // The events for what only the end decided (a held-back tag prefix that turned out to be
  // text, calls closed by the end) go to last_events when given. The parser is spent
  // afterwards.
  ParsedReply finish(std::vector<ParserEvent>* last_events = nullptr);

  // The calls completed so far (CallComplete events index into this).
  const std::vector<ParsedCall>& calls() const;

  // Convenience: whole-text parse.
  static ParsedReply parse(std::string_view text, const ParserOptions& options);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Converts a parameter's raw text to the JSON type its schema names (string verbatim,
// integer, number, boolean, null, object/array as JSON; "type" lists, anyOf/oneOf and
// nullable; enum checked). Returns nullopt and sets error (e.g. "must be an integer, got
// 'ten'") on failure.
std::optional<json> convert_parameter(const std::string& raw, const json& schema, std::string& error);

}  // namespace nagent
