// Incremental parser for what a Nemotron 3 / Qwen3-Coder model writes: reasoning
// (<think>...</think>), visible content, and qwen3_coder tool calls:
//   <tool_call>\n<function=NAME>\n<parameter=P>\nVALUE\n</parameter>\n</function>\n</tool_call>
// Feed it chunks as they stream in; the result never depends on where the chunks split,
// and each byte is examined a bounded number of times (no re-scan from the start).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/chat.h"

namespace nagent {

struct ParserOptions {
  // True when the prompt ended inside reasoning (generation prompt "<think>\n"): text is
  // reasoning until </think> or the first <tool_call>. If the reply ends without either,
  // the text is surfaced as content instead (a model that never closed its reasoning).
  bool starts_in_reasoning = false;
  // OpenAI function schemas ([{type:"function", function:{name, parameters}}]) used to
  // type-convert parameter values and to report unknown tools / parameters.
  json tools = json::array();
  // Other harnesses' tool names the model may use ("bash" -> "shell"): resolved before the
  // lookup in tools; ParsedCall::name then holds the target name.
  std::map<std::string, std::string> aliases;
};

struct ParsedCall {
  std::string name;            // as written (may be unknown or empty when malformed)
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
  enum Kind { Reasoning, Content, CallComplete } kind;
  std::string text;            // Reasoning/Content: the new text
  size_t call_index = 0;       // CallComplete: index into calls
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
  ParsedReply finish();

  // Convenience: whole-text parse.
  static ParsedReply parse(std::string_view text, const ParserOptions& options);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Converts a parameter's raw text to the JSON type its schema names (string verbatim,
// integer, number, boolean, object/array as JSON). Returns nullopt and sets error on failure.
std::optional<json> convert_parameter(const std::string& raw, const json& schema, std::string& error);

}  // namespace nagent
