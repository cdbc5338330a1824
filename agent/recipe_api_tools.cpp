// nagent.tool(name, args), nagent.define_tool{...}, nagent.exec{...}: calling tools, tools
// written in Lua (offered to agents like built-in ones), and programs run in the sandbox.
#include <regex>

#include "agent/recipe_api.h"
#include "tools/builtin.h"
#include "tools/run_command.h"

namespace nagent::recipe_api {
namespace {

// A tool whose handler is a Lua function. It is never read_only(), so the planner calls it
// on the agent's own thread, one call at a time; the Lua lock orders it against other agents.
class LuaTool : public Tool {
 public:
  LuaTool(Runtime& rt, std::string name, std::string description, json parameters, int handler)
      : rt_(rt), name_(std::move(name)), description_(std::move(description)),
        parameters_(std::move(parameters)), handler_(handler) {}
  std::string name() const override { return name_; }
  std::string description() const override { return description_; }
  json parameters() const override { return parameters_; }
  bool read_only() const override { return false; }

  // handler(args) returns a string (the output), nil + message (a failed call), or
  // {output = ..., ok = ..., data = {...}}. A Lua error is a failed call whose message
  // names the recipe's file and line.
  ToolResult run(const json& args, ToolContext&) const override {
    LuaLock lock(rt_);
    lua_State* L = rt_.L;
    const int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, handler_);
    push_json(L, args);
    try {
      call_lua(rt_, 1, 2);
    } catch (const RecipeError& e) {
      lua_settop(L, top);
      return tool_error(std::string("Error: ") + e.what());
    }
    ToolResult r;
    if (lua_type(L, -2) == LUA_TSTRING) {
      r.output = lua_tostring(L, -2);
    } else if (lua_isnil(L, -2)) {
      r.ok = false;
      r.output = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "the tool failed";
    } else if (lua_istable(L, -2)) {
      json t;
      try {
        t = to_json(L, -2);
      } catch (const std::invalid_argument& e) {
        t = {{"ok", false}, {"output", std::string("Error: the tool's result: ") + e.what()}};
      }
      r.ok = t.value("ok", true);
      r.output = t.contains("output") && t["output"].is_string() ? t["output"].get<std::string>() : t.dump();
      if (t.contains("data") && t["data"].is_object()) r.data = t["data"];
    } else {
      r.ok = false;
      r.output = std::string("Error: tool ") + name_ + "'s handler returned a " + luaL_typename(L, -2) +
                 " (expected a string, nil and a message, or a table)";
    }
    lua_settop(L, top);
    if (r.output.size() > rt_.host.context.output_limit_bytes) {
      r.full_output = r.output;
      r.output = cap_output(r.output, rt_.host.context.output_limit_bytes);
    }
    return r;
  }

 private:
  Runtime& rt_;
  std::string name_, description_;
  json parameters_;
  int handler_;  // registry reference; the Lua state outlives the tool's use
};

json run_tool_op(Runtime& rt, const std::string& name, const json& args) {
  Journal& journal = rt.host.journal;
  const int op = rt.begin_op();
  if (auto recorded = journal.recorded_result(op)) return *recorded;
  const Tool* tool = rt.tools.find(name);
  if (!tool) {
    std::string list;
    for (const auto& n : rt.tools.names()) list += (list.empty() ? "" : ", ") + n;
    throw ApiError("unknown tool '" + name + "' (available: " + list + ")");
  }
  if (std::string problem = validate_arguments(*tool, args); !problem.empty())
    throw ApiError("nagent.tool('" + name + "'): " + problem);
  ToolResult r;
  {
    LuaUnlock unlock(rt);  // a long tool (tests, a build) lets concurrent agents' Lua tools run
    r = tool->run(args, rt.host.context);
  }
  json result = {{"ok", r.ok}, {"output", r.output}, {"exit_code", r.exit_code}, {"data", r.data}};
  journal.record("op_end", {{"op", op}, {"kind", "tool"}, {"name", tool->name()}, {"args", args}, {"result", result}});
  return result;
}

int api_tool(lua_State* L, Runtime& rt) {
  std::string name = arg_string(L, 1, "nagent.tool: the tool name");
  json args = opt_table(L, 2, "nagent.tool: the arguments");
  if (!args.is_object()) throw ApiError("nagent.tool: arguments must be a table with named fields");
  push_json(L, run_tool_op(rt, name, args));
  return 1;
}

// nagent.define_tool{name=, description=, parameters={JSON schema}, handler=function(args)}
int api_define_tool(lua_State* L, Runtime& rt) {
  if (!lua_istable(L, 1))
    throw ApiError("nagent.define_tool expects a table {name=, description=, parameters=, handler=}");
  lua_getfield(L, 1, "name");
  const std::string name = arg_string(L, -1, "nagent.define_tool: field 'name'");
  lua_getfield(L, 1, "description");
  const std::string description = arg_string(L, -1, "nagent.define_tool: field 'description'");
  lua_getfield(L, 1, "parameters");
  json parameters = {{"type", "object"}, {"properties", json::object()}};
  if (!lua_isnil(L, -1)) parameters = arg_table(L, -1, "nagent.define_tool: field 'parameters'");
  lua_getfield(L, 1, "handler");
  if (!lua_isfunction(L, -1)) throw ApiError("nagent.define_tool: field 'handler' must be a function");
  lua_pushnil(L);
  while (lua_next(L, 1) != 0) {
    lua_pop(L, 1);
    const std::string key = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
    if (key != "name" && key != "description" && key != "parameters" && key != "handler")
      throw ApiError("nagent.define_tool: unknown field '" + key + "'");
  }
  static const std::regex valid_name("[a-z_][a-z0-9_]{0,63}");
  if (!std::regex_match(name, valid_name))
    throw ApiError("nagent.define_tool: name '" + name + "' must be lower-case letters, digits and _");
  if (parameters.is_array() && parameters.empty()) parameters = {{"type", "object"}, {"properties", json::object()}};
  if (!parameters.is_object() || parameters.value("type", "") != "object")
    throw ApiError("nagent.define_tool: 'parameters' must be a JSON schema of type \"object\"");
  if (parameters.contains("properties") && parameters["properties"].is_array())
    parameters["properties"] = json::object();  // an empty Lua table
  if (rt.tools.find(name)) throw ApiError("nagent.define_tool: a tool named '" + name + "' exists already");
  const int handler = luaL_ref(L, LUA_REGISTRYINDEX);  // pops the handler
  rt.tools.add(std::make_shared<LuaTool>(rt, name, description, parameters, handler));
  return 0;
}

// nagent.exec{argv = {...} | command = "sh line", stdin = "", timeout_s = 60}
//   -> {ok, exit_code, stdout, stderr, timed_out}; runs in the workspace through the sandbox.
int api_exec(lua_State* L, Runtime& rt) {
  const json spec = arg_table(L, 1, "nagent.exec: the command");
  for (const auto& [key, value] : spec.items())
    if (key != "argv" && key != "command" && key != "stdin" && key != "timeout_s")
      throw ApiError("nagent.exec: unknown field '" + key + "'");
  sandbox::Command cmd;
  if (spec.contains("argv")) {
    if (!spec["argv"].is_array() || spec["argv"].empty())
      throw ApiError("nagent.exec: field 'argv' must be a non-empty list of strings");
    for (const auto& a : spec["argv"]) {
      if (!a.is_string()) throw ApiError("nagent.exec: field 'argv' must be a non-empty list of strings");
      cmd.argv.push_back(a.get<std::string>());
    }
  } else if (spec.contains("command")) {
    cmd.argv = {"/bin/sh", "-c", opt_field_string(spec, "command", "nagent.exec", "")};
  } else {
    throw ApiError("nagent.exec needs argv = {...} or command = \"...\"");
  }
  cmd.stdin_data = opt_field_string(spec, "stdin", "nagent.exec", "");
  cmd.timeout_s = opt_field_number(spec, "timeout_s", "nagent.exec", 120);
  cmd.workdir = rt.host.context.workspace.root().string();
  cmd.cancel = rt.host.hooks.cancel;
  Journal& journal = rt.host.journal;
  const int op = rt.begin_op();
  json result;
  if (auto recorded = journal.recorded_result(op)) {
    result = *recorded;
  } else {
    sandbox::Result r;
    {
      LuaUnlock unlock(rt);
      r = rt.host.context.runner.run(cmd);
    }
    result = {{"ok", r.ok()},        {"exit_code", outcome_code(r)}, {"stdout", r.stdout_data},
              {"stderr", r.stderr_data}, {"timed_out", r.timed_out}};
    journal.record("op_end", {{"op", op}, {"kind", "exec"}, {"name", cmd.argv[0]}, {"result", result}});
  }
  push_json(L, result);
  return 1;
}

}  // namespace

void register_tool_api(lua_State* L, Runtime& rt) {
  set_function<api_tool>(L, rt, "tool");
  set_function<api_define_tool>(L, rt, "define_tool");
  set_function<api_exec>(L, rt, "exec");
}

}  // namespace nagent::recipe_api
