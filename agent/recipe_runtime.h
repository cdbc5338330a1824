// RecipeRuntime: runs a Lua recipe in a restricted Lua 5.4 state with nagent's host API.
// The recipe sees one global table, `nagent` (docs/recipes.md documents every function):
//   nagent.args                          CLI settings and --arg KEY=VALUE pairs
//   nagent.agent{...} / agent:run(task)  agents (system, tools, budgets, sampling, hooks,
//                                        their own backend and sandbox policy)
//   agent:structured(prompt, schema)     JSON output validated against a schema, with retry
//   nagent.parallel{{agent, task}, ...}  several sub-agents at once against the same backend
//   nagent.tool / define_tool / exec     built-in tools, tools written in Lua, sandboxed programs
//   nagent.read_file / write_file / list_files, nagent.git_*   the workspace
//   nagent.corpus_index(dir)             a BM25 full-text index of a document corpus
//   nagent.write_report / json_encode / json_decode / events / log / print
// The recipe returns true/false or {ok=bool, summary=string}. It cannot run host commands
// or touch files except through this API (no os.execute, io, require, loadlib, dofile).
#pragma once

#include <functional>
#include <stdexcept>
#include <string>

#include "agent/journal.h"
#include "agent/planner.h"
#include "engine/backend.h"
#include "tools/tool.h"

namespace nagent {

// A recipe error (syntax error, runtime error, API misuse); the message starts with
// "recipe.lua:LINE:".
struct RecipeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct RecipeHost {
  Backend& backend;
  const ToolRegistry& tools;
  ToolContext& context;
  Journal& journal;
  AgentConfig agent_defaults;                          // from the CLI (--max-steps, ...)
  AgentHooks hooks;                                    // live output, cancellation
  std::function<void(const std::string&)> print;       // nagent.print
  std::function<void(const std::string&)> log;         // nagent.log (after journaling)
  std::string report_dir = {};                         // nagent.write_report's folder;
                                                       // empty: the workspace's .nagent/reports
};

struct RecipeOutcome {
  bool ok = false;
  std::string summary;
};

// Runs the recipe file with args (a JSON object, exposed as nagent.args). Backend and
// sandbox errors propagate as their own exception types; Lua errors as RecipeError.
RecipeOutcome run_recipe(const std::string& path, const json& args, RecipeHost& host);

}  // namespace nagent
