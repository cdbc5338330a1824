// Test helper: an AgentTestbed that runs recipes (code written to a file, or a shipped
// recipe) and collects what they print, log and report.
#pragma once

#include "agent/recipe_runtime.h"
#include "support/agent_testbed.h"

struct RecipeTestbed : AgentTestbed {
  std::string printed, logged;
  std::filesystem::path reports;

  RecipeTestbed(const std::string& tag, const std::string& test_cmd, const std::map<std::string, std::string>& files)
      : AgentTestbed(tag, "t", test_cmd, files), reports(dir.path() / "reports") {}

  nagent::RecipeOutcome run_file(const std::string& path, const nagent::json& args = nagent::json::object()) {
    nagent::RecipeHost host{*client, tools, *context, *journal, nagent::AgentConfig{}, {},
                            [&](const std::string& t) { printed += t; },
                            [&](const std::string& t) { logged += t + "\n"; }, reports.string()};
    return nagent::run_recipe(path, args, host);
  }

  // Writes the recipe to dir/recipe.lua and runs it.
  nagent::RecipeOutcome run(const std::string& code, const nagent::json& args = nagent::json::object()) {
    const auto path = dir.path() / "recipe.lua";
    write_text(path, code);
    return run_file(path.string(), args);
  }
};
