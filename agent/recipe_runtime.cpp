#include "agent/recipe_runtime.h"

#include <lua.hpp>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/errors.h"
#include "agent/lua_json.h"
#include "sandbox/sandbox.h"

namespace nagent {
namespace {

constexpr const char* kAgentMeta = "nagent.Agent";

// A host-function failure the recipe can see (bad argument, unknown tool, ...).
struct ApiError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Runtime {
  RecipeHost& host;
  std::exception_ptr fatal;  // backend/sandbox/store failure: aborts the recipe
};

Runtime& runtime(lua_State* L) { return *static_cast<Runtime*>(lua_touserdata(L, lua_upvalueindex(1))); }

// Argument helpers that throw instead of longjmp-ing over C++ frames.
std::string arg_string(lua_State* L, int i, const char* what) {
  if (lua_type(L, i) != LUA_TSTRING)
    throw ApiError(std::string(what) + " must be a string, got " + luaL_typename(L, i));
  size_t n = 0;
  const char* s = lua_tolstring(L, i, &n);
  return std::string(s, n);
}

// Wraps a host function: C++ exceptions become Lua errors prefixed with the recipe's
// file:line; fatal ones are remembered so the recipe cannot swallow them with pcall.
template <int (*F)(lua_State*, Runtime&)>
int host_function(lua_State* L) {
  Runtime& rt = runtime(L);
  if (rt.fatal) {
    lua_pushliteral(L, "nagent: recipe aborted by an earlier runtime error");
    return lua_error(L);
  }
  try {
    if (rt.host.hooks.cancelled()) throw Cancelled();
    return F(L, rt);
  } catch (const ApiError& e) {
    luaL_where(L, 1);
    lua_pushstring(L, e.what());
  } catch (const std::invalid_argument& e) {
    luaL_where(L, 1);
    lua_pushstring(L, e.what());
  } catch (const RecipeError& e) {
    luaL_where(L, 1);
    lua_pushstring(L, e.what());
  } catch (...) {
    rt.fatal = std::current_exception();
    luaL_where(L, 1);
    lua_pushliteral(L, "runtime error (see above)");
  }
  lua_concat(L, 2);
  return lua_error(L);
}

template <int (*F)(lua_State*, Runtime&)>
void set_function(lua_State* L, Runtime& rt, const char* name) {
  lua_pushlightuserdata(L, &rt);
  lua_pushcclosure(L, &host_function<F>, 1);
  lua_setfield(L, -2, name);
}

// ---- nagent.tool -----------------------------------------------------------------

json run_tool_op(Runtime& rt, const std::string& name, const json& args) {
  Journal& journal = rt.host.journal;
  const int op = journal.begin_op();
  if (auto recorded = journal.recorded_result(op)) return *recorded;
  const Tool* tool = rt.host.tools.find(name);
  if (!tool) {
    std::string list;
    for (const auto& n : rt.host.tools.names()) list += (list.empty() ? "" : ", ") + n;
    throw ApiError("unknown tool '" + name + "' (available: " + list + ")");
  }
  if (std::string problem = validate_arguments(*tool, args); !problem.empty())
    throw ApiError("nagent.tool('" + name + "'): " + problem);
  ToolResult r = tool->run(args, rt.host.context);
  json result = {{"ok", r.ok}, {"output", r.output}, {"exit_code", r.exit_code}, {"data", r.data}};
  journal.record("op_end", {{"op", op}, {"kind", "tool"}, {"name", tool->name()}, {"args", args}, {"result", result}});
  return result;
}

int api_tool(lua_State* L, Runtime& rt) {
  std::string name = arg_string(L, 1, "nagent.tool: the tool name");
  json args = json::object();
  if (!lua_isnoneornil(L, 2)) {
    if (!lua_istable(L, 2)) throw ApiError("nagent.tool: arguments must be a table");
    args = to_json(L, 2);
    if (args.is_array() && args.empty()) args = json::object();
    if (!args.is_object()) throw ApiError("nagent.tool: arguments must be a table with named fields");
  }
  push_json(L, run_tool_op(rt, name, args));
  return 1;
}

// ---- nagent.agent ----------------------------------------------------------------

AgentConfig agent_config_from(const json& spec, const AgentConfig& defaults) {
  static const char* known[] = {"name", "system", "tools", "max_steps", "max_tokens", "max_wall_s",
                                "max_format_errors", "stop_on_tests_pass", "finish_on_text_reply",
                                "temperature", "top_p", "max_reply_tokens", "seed", "thinking"};
  for (const auto& [key, value] : spec.items()) {
    if (std::find_if(std::begin(known), std::end(known), [&](const char* k) { return key == k; }) == std::end(known))
      throw ApiError("nagent.agent: unknown field '" + key + "'");
  }
  AgentConfig c = defaults;
  auto get = [&](const char* key, auto& field, const char* type_name, auto check) {
    if (!spec.contains(key)) return;
    const json& v = spec[key];
    if (!check(v)) throw ApiError(std::string("nagent.agent: field '") + key + "' must be " + type_name);
    field = v.get<std::decay_t<decltype(field)>>();
  };
  auto is_str = [](const json& v) { return v.is_string(); };
  auto is_int = [](const json& v) { return v.is_number_integer() && v.get<int64_t>() >= 0; };
  auto is_num = [](const json& v) { return v.is_number() && v.get<double>() >= 0; };
  auto is_bool = [](const json& v) { return v.is_boolean(); };
  get("name", c.name, "a string", is_str);
  get("system", c.system_prompt, "a string", is_str);
  get("max_steps", c.max_steps, "a non-negative integer", is_int);
  get("max_tokens", c.max_tokens, "a non-negative integer", is_int);
  get("max_wall_s", c.max_wall_s, "a non-negative number", is_num);
  get("max_format_errors", c.max_format_errors, "a non-negative integer", is_int);
  get("stop_on_tests_pass", c.stop_on_tests_pass, "a boolean", is_bool);
  get("finish_on_text_reply", c.finish_on_text_reply, "a boolean", is_bool);
  get("temperature", c.sampling.temperature, "a non-negative number", is_num);
  get("top_p", c.sampling.top_p, "a non-negative number", is_num);
  get("max_reply_tokens", c.sampling.max_tokens, "a non-negative integer", is_int);
  get("thinking", c.enable_thinking, "a boolean", is_bool);
  if (spec.contains("seed")) {
    if (!is_int(spec["seed"])) throw ApiError("nagent.agent: field 'seed' must be a non-negative integer");
    c.sampling.seed = spec["seed"].get<uint64_t>();
  }
  if (spec.contains("tools")) {
    const json& t = spec["tools"];
    if (!t.is_array()) throw ApiError("nagent.agent: field 'tools' must be a list of tool names");
    c.tools.clear();
    for (const auto& n : t) {
      if (!n.is_string()) throw ApiError("nagent.agent: field 'tools' must be a list of tool names");
      c.tools.push_back(n.get<std::string>());
    }
  }
  return c;
}

int api_agent(lua_State* L, Runtime& rt) {
  if (!lua_istable(L, 1)) throw ApiError("nagent.agent expects a table, e.g. nagent.agent{system = \"...\"}");
  AgentConfig config = agent_config_from(to_json(L, 1), rt.host.agent_defaults);
  for (const auto& name : config.tools)
    if (!rt.host.tools.find(name)) throw ApiError("nagent.agent: unknown tool '" + name + "'");
  void* mem = lua_newuserdatauv(L, sizeof(AgentConfig), 0);
  new (mem) AgentConfig(std::move(config));
  luaL_setmetatable(L, kAgentMeta);
  return 1;
}

int agent_gc(lua_State* L) {
  static_cast<AgentConfig*>(luaL_checkudata(L, 1, kAgentMeta))->~AgentConfig();
  return 0;
}

int api_agent_run(lua_State* L, Runtime& rt) {
  auto* config = static_cast<AgentConfig*>(luaL_testudata(L, 1, kAgentMeta));
  if (!config) throw ApiError("agent:run must be called on an agent (use a colon: agent:run(task))");
  std::string task = arg_string(L, 2, "agent:run: the task");
  Journal& journal = rt.host.journal;
  const int op = journal.begin_op();
  AgentResult result;
  if (auto recorded = journal.recorded_result(op)) {
    result = AgentResult::from_json(*recorded);
  } else {
    Agent agent(*config, rt.host.backend, rt.host.tools, rt.host.context, journal);
    result = agent.run(task, op, rt.host.hooks);
    journal.record("op_end", {{"op", op}, {"kind", "agent"}, {"name", config->name}, {"result", result.to_json()}});
  }
  push_json(L, result.to_json());
  return 1;
}

// ---- files, output -------------------------------------------------------------------

sandbox::Result run_git(Runtime& rt, std::vector<std::string> argv) {
  sandbox::Command cmd;
  cmd.argv = std::move(argv);
  cmd.workdir = rt.host.context.workspace.root().string();
  cmd.timeout_s = 60;
  return rt.host.context.runner.run(cmd);
}

// The workspace's changes against HEAD as a unified diff, new (untracked) files included.
int api_git_diff(lua_State* L, Runtime& rt) {
  sandbox::Result tracked = run_git(rt, {"git", "diff", "HEAD"});
  if (!tracked.ok())
    throw ApiError("nagent.git_diff: git diff failed (is the workspace a git repository with a commit?): " +
                   tracked.stderr_data.substr(0, 300));
  std::string diff = tracked.stdout_data;
  sandbox::Result untracked = run_git(rt, {"git", "ls-files", "--others", "--exclude-standard", "-z"});
  const std::string& list = untracked.stdout_data;
  for (size_t pos = 0; pos < list.size();) {
    size_t end = list.find('\0', pos);
    if (end == std::string::npos) end = list.size();
    std::string path = list.substr(pos, end - pos);
    pos = end + 1;
    if (path.empty()) continue;
    // --no-index exits 1 when the files differ, which they always do here.
    diff += run_git(rt, {"git", "diff", "--no-index", "--", "/dev/null", path}).stdout_data;
  }
  lua_pushlstring(L, diff.data(), diff.size());
  return 1;
}

int api_read_file(lua_State* L, Runtime& rt) {
  std::string path = arg_string(L, 1, "nagent.read_file: the path");
  std::string error;
  std::string text;
  try {
    auto abs = rt.host.context.workspace.resolve(path);
    std::ifstream in(abs, std::ios::binary);
    if (!in) throw PathError("cannot read " + path + ": no such file");
    std::ostringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  } catch (const PathError& e) {
    error = e.what();
  }
  if (!error.empty()) {
    lua_pushnil(L);
    lua_pushlstring(L, error.data(), error.size());
    return 2;
  }
  lua_pushlstring(L, text.data(), text.size());
  return 1;
}

int api_write_file(lua_State* L, Runtime& rt) {
  std::string path = arg_string(L, 1, "nagent.write_file: the path");
  std::string text = arg_string(L, 2, "nagent.write_file: the content");
  std::filesystem::path abs;
  try {
    abs = rt.host.context.workspace.resolve(path);
  } catch (const PathError& e) {
    throw ApiError(e.what());
  }
  std::filesystem::create_directories(abs.parent_path());
  std::ofstream out(abs, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw ApiError("nagent.write_file: cannot write " + path);
  return 0;
}

// The session's events so far, optionally of one type: {{seq=, type=, data={...}}, ...}.
int api_events(lua_State* L, Runtime& rt) {
  std::string type;
  if (!lua_isnoneornil(L, 1)) type = arg_string(L, 1, "nagent.events: the event type");
  json list = json::array();
  Journal& journal = rt.host.journal;
  for (auto& e : journal.store().events(journal.session_id())) {
    if (!type.empty() && e.type != type) continue;
    list.push_back({{"seq", e.seq}, {"type", e.type}, {"data", std::move(e.data)}});
  }
  push_json(L, list);
  return 1;
}

std::string joined_args(lua_State* L) {
  std::string out;
  for (int i = 1, n = lua_gettop(L); i <= n; ++i) {
    if (i > 1) out += "\t";
    out += luaL_tolstring(L, i, nullptr);
    lua_pop(L, 1);
  }
  return out;
}

int api_log(lua_State* L, Runtime& rt) {
  std::string text = joined_args(L);
  rt.host.journal.record("log", {{"text", text}});
  if (rt.host.log) rt.host.log(text);
  return 0;
}

int api_print(lua_State* L, Runtime& rt) {
  std::string text = joined_args(L);
  if (rt.host.print) rt.host.print(text + "\n");
  return 0;
}

// ---- the state -------------------------------------------------------------------------

// Base library minus everything that reaches the host (files, processes, native code).
void open_restricted_libs(lua_State* L) {
  static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},        {LUA_TABLIBNAME, luaopen_table},
                                  {LUA_STRLIBNAME, luaopen_string}, {LUA_MATHLIBNAME, luaopen_math},
                                  {LUA_UTF8LIBNAME, luaopen_utf8},  {LUA_COLIBNAME, luaopen_coroutine},
                                  {LUA_OSLIBNAME, luaopen_os}};
  for (const auto& lib : libs) {
    luaL_requiref(L, lib.name, lib.func, 1);
    lua_pop(L, 1);
  }
  for (const char* name : {"dofile", "loadfile", "load", "require", "collectgarbage"}) {
    lua_pushnil(L);
    lua_setglobal(L, name);
  }
  // os: only the clock and dates.
  lua_getglobal(L, "os");
  for (const char* name : {"execute", "exit", "getenv", "remove", "rename", "tmpname", "setlocale"}) {
    lua_pushnil(L);
    lua_setfield(L, -2, name);
  }
  lua_pop(L, 1);
}

// Checks for cancellation every few thousand Lua instructions, so a recipe stuck in a loop
// of its own still stops.
void cancel_hook(lua_State* L, lua_Debug*) {
  lua_getfield(L, LUA_REGISTRYINDEX, "nagent.runtime");
  auto* rt = static_cast<Runtime*>(lua_touserdata(L, -1));
  lua_pop(L, 1);
  if (rt && rt->host.hooks.cancelled() && !rt->fatal) {
    rt->fatal = std::make_exception_ptr(Cancelled());
    luaL_error(L, "cancelled");
  }
}

int traceback_handler(lua_State* L) {
  const char* msg = lua_tostring(L, 1);
  luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
  return 1;
}

}  // namespace

RecipeOutcome run_recipe(const std::string& path, const json& args, RecipeHost& host) {
  std::unique_ptr<lua_State, decltype(&lua_close)> state(luaL_newstate(), &lua_close);
  lua_State* L = state.get();
  if (!L) throw RecipeError("cannot create a Lua state (out of memory)");
  Runtime rt{host, nullptr};
  open_restricted_libs(L);
  if (host.hooks.cancel) {
    lua_pushlightuserdata(L, &rt);
    lua_setfield(L, LUA_REGISTRYINDEX, "nagent.runtime");
    lua_sethook(L, cancel_hook, LUA_MASKCOUNT, 10000);
  }

  luaL_newmetatable(L, kAgentMeta);
  lua_pushcfunction(L, agent_gc);
  lua_setfield(L, -2, "__gc");
  lua_newtable(L);
  set_function<api_agent_run>(L, rt, "run");
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);

  lua_newtable(L);
  push_json(L, args);
  lua_setfield(L, -2, "args");
  set_function<api_agent>(L, rt, "agent");
  set_function<api_tool>(L, rt, "tool");
  set_function<api_read_file>(L, rt, "read_file");
  set_function<api_write_file>(L, rt, "write_file");
  set_function<api_git_diff>(L, rt, "git_diff");
  set_function<api_events>(L, rt, "events");
  set_function<api_log>(L, rt, "log");
  set_function<api_print>(L, rt, "print");
  lua_pushvalue(L, -1);
  lua_setglobal(L, "nagent");
  lua_getfield(L, -1, "print");
  lua_setglobal(L, "print");
  lua_pop(L, 1);

  std::ifstream in(path, std::ios::binary);
  if (!in) throw RecipeError("cannot read recipe " + path);
  std::ostringstream source;
  source << in.rdbuf();
  const std::string code = source.str();
  const std::string chunkname = "@" + path;

  lua_pushcfunction(L, traceback_handler);
  if (luaL_loadbufferx(L, code.data(), code.size(), chunkname.c_str(), "t") != LUA_OK)
    throw RecipeError(lua_tostring(L, -1));
  const int status = lua_pcall(L, 0, 1, -2);
  if (rt.fatal) std::rethrow_exception(rt.fatal);
  if (status != LUA_OK) throw RecipeError(lua_tostring(L, -1) ? lua_tostring(L, -1) : "recipe failed");

  RecipeOutcome outcome;
  if (lua_isboolean(L, -1)) {
    outcome.ok = lua_toboolean(L, -1);
  } else if (lua_istable(L, -1)) {
    json r;
    try {
      r = to_json(L, -1);
    } catch (const std::invalid_argument& e) {
      throw RecipeError(path + ": the recipe's result: " + e.what());
    }
    if (!r.is_object() || !r.contains("ok") || !r["ok"].is_boolean())
      throw RecipeError(path + ": the recipe must return true/false or {ok = <boolean>, summary = <string>}");
    outcome.ok = r["ok"].get<bool>();
    outcome.summary = r.value("summary", "");
  } else {
    throw RecipeError(path + ": the recipe must return true/false or {ok = <boolean>, summary = <string>}, got " +
                      luaL_typename(L, -1));
  }
  return outcome;
}

}  // namespace nagent
