// RecipeRuntime: runs a Lua recipe in a restricted Lua 5.4 state with nagent's host API.
// The recipe sees one global table, `nagent`:
//   nagent.args                      CLI arguments: repo, task, test_cmd, max_steps, ...
//   nagent.agent{...}                an agent (system, tools, max_steps, max_tokens,
//                                    max_wall_s, stop_on_tests_pass, temperature, ...)
//   agent:run(task)                  -> {ok, outcome, summary, steps, tokens, wall_s}
//   nagent.tool(name, args)          -> {ok, output, exit_code, data}  (a built-in tool)
//   nagent.read_file(path)           -> text | nil, error   (workspace-confined)
//   nagent.write_file(path, text)
//   nagent.git_diff()                -> the workspace's changes against HEAD (new files too)
//   nagent.events([type])           -> the session's events so far: {{seq, type, data}, ...}
//   nagent.log(text)                 progress line on stderr, and an event
//   nagent.print(text)               the recipe's report on stdout
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
};

struct RecipeOutcome {
  bool ok = false;
  std::string summary;
};

// Runs the recipe file with args (a JSON object, exposed as nagent.args). Backend and
// sandbox errors propagate as their own exception types; Lua errors as RecipeError.
RecipeOutcome run_recipe(const std::string& path, const json& args, RecipeHost& host);

}  // namespace nagent
