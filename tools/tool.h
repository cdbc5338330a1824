// Tool: one capability the model can call (read_file, shell, ...), with its JSON schema.
// Tools are stateless; everything they act on comes in through ToolContext.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/chat.h"
#include "sandbox/sandbox.h"
#include "tools/artifact_reader.h"
#include "tools/workspace.h"

namespace nagent {

struct ToolContext {
  Workspace& workspace;
  sandbox::Runner& runner;
  std::string test_command;  // --test-cmd; empty: run_tests detects one
  uint64_t output_limit_bytes = 16 * 1024;  // what the model sees of an output (head + tail)
  // The session's stored tool outputs (read_artifact, search_artifact); null: none.
  const ArtifactReader* artifacts = nullptr;
};

struct ToolResult {
  bool ok = true;            // false: the call failed (bad arguments, command failed, ...)
  std::string output;        // what the model sees (already capped)
  // The whole output when `output` is a capped view of it (empty otherwise): the agent
  // stores it as an artifact the model can read on demand.
  std::string full_output = {};
  int exit_code = 0;         // for tools that run programs
  bool finished = false;     // the finish tool ends the agent's run
  json data = json::object();  // structured extras for events/recipes (e.g. {"passed": true})
};

class Tool {
 public:
  virtual ~Tool() = default;
  virtual std::string name() const = 0;
  virtual std::string description() const = 0;
  virtual json parameters() const = 0;     // JSON schema of the arguments object
  virtual bool read_only() const = 0;      // read-only calls may run concurrently
  // Arguments have been validated against parameters() by the caller. Errors the model
  // should see are returned as ok=false results, never thrown.
  virtual ToolResult run(const json& args, ToolContext& ctx) const = 0;
};

class ToolRegistry {
 public:
  void add(std::shared_ptr<const Tool> tool);
  // Maps a name models trained on other harnesses use ("bash", "str_replace", "view") to ours.
  void add_alias(const std::string& alias, const std::string& target);
  const Tool* find(const std::string& name) const;  // follows aliases; nullptr if unknown
  std::vector<std::string> names() const;           // registration order
  std::map<std::string, std::string> aliases() const;  // alias -> tool (for the parser)
  json openai_schemas() const;  // [{type:"function", function:{name, description, parameters}}]
  // A registry holding only the named tools (unknown names throw std::invalid_argument).
  ToolRegistry subset(const std::vector<std::string>& names) const;

 private:
  std::vector<std::shared_ptr<const Tool>> tools_;
  std::vector<std::pair<std::string, std::string>> aliases_;
};

// Every built-in tool, with the usual aliases.
ToolRegistry builtin_tools();

// Checks args against a tool's schema (required keys, unknown keys, JSON types, enum,
// minimum/maximum).
// Returns an empty string when valid, else a message for the model naming the problem.
std::string validate_arguments(const Tool& tool, const json& args);

// Caps text for the model: keeps head and tail, notes how much was cut in the middle
// ("[... 12345 bytes / 300 lines omitted ...]"). Cuts fall on line boundaries when one
// is near and never inside a UTF-8 sequence. head_share is the head's part of the kept
// bytes (test output keeps more tail: that is where failures are summarised).
std::string cap_output(const std::string& text, uint64_t limit_bytes, double head_share = 0.5);

}  // namespace nagent
