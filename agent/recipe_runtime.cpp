// The recipe's Lua state: the restricted standard library, the `nagent` table (its
// functions live in recipe_api_*.cpp), running the file and reading its result.
#include "agent/recipe_runtime.h"

#include <fstream>
#include <sstream>

#include "agent/recipe_api.h"

namespace nagent {
namespace recipe_api {

Runtime& runtime(lua_State* L) { return *static_cast<Runtime*>(lua_touserdata(L, lua_upvalueindex(1))); }

namespace {
thread_local bool this_thread_holds_lua = false;
}

bool holds_lua_lock() { return this_thread_holds_lua; }

LuaLock::LuaLock(Runtime& rt) : rt_(rt) {
  if (this_thread_holds_lua) return;
  rt_.lua_mutex.lock();
  this_thread_holds_lua = locked_ = true;
}

LuaLock::~LuaLock() {
  if (!locked_) return;
  this_thread_holds_lua = false;
  rt_.lua_mutex.unlock();
}

LuaUnlock::LuaUnlock(Runtime& rt) : rt_(rt) {
  if (!this_thread_holds_lua) return;
  this_thread_holds_lua = false;
  rt_.lua_mutex.unlock();
  unlocked_ = true;
}

LuaUnlock::~LuaUnlock() {
  if (!unlocked_) return;
  rt_.lua_mutex.lock();
  this_thread_holds_lua = true;
}

void call_lua(Runtime& rt, int nargs, int nresults) {
  lua_State* L = rt.L;
  const int status = lua_pcall(L, nargs, nresults, 0);
  if (rt.fatal) {
    if (status != LUA_OK) lua_pop(L, 1);
    std::rethrow_exception(rt.fatal);
  }
  if (status == LUA_OK) return;
  std::string message = lua_tostring(L, -1) ? lua_tostring(L, -1) : "(error object is not a string)";
  lua_pop(L, 1);
  throw RecipeError(message);
}

std::string arg_string(lua_State* L, int i, const char* what) {
  if (lua_type(L, i) != LUA_TSTRING)
    throw ApiError(std::string(what) + " must be a string, got " + luaL_typename(L, i));
  size_t n = 0;
  const char* s = lua_tolstring(L, i, &n);
  return std::string(s, n);
}

std::string opt_string(lua_State* L, int i, const char* what, const std::string& fallback) {
  return lua_isnoneornil(L, i) ? fallback : arg_string(L, i, what);
}

json arg_table(lua_State* L, int i, const char* what) {
  if (!lua_istable(L, i)) throw ApiError(std::string(what) + " must be a table, got " + luaL_typename(L, i));
  try {
    return to_json(L, i);
  } catch (const std::invalid_argument& e) {
    throw ApiError(std::string(what) + ": " + e.what());
  }
}

json opt_table(lua_State* L, int i, const char* what) {
  if (lua_isnoneornil(L, i)) return json::object();
  json j = arg_table(L, i, what);
  return j.is_array() && j.empty() ? json::object() : j;
}

std::string opt_field_string(const json& options, const char* field, const char* what, const std::string& fallback) {
  if (!options.is_object() || !options.contains(field)) return fallback;
  if (!options[field].is_string()) throw ApiError(std::string(what) + ": field '" + field + "' must be a string");
  return options[field].get<std::string>();
}

double opt_field_number(const json& options, const char* field, const char* what, double fallback) {
  if (!options.is_object() || !options.contains(field)) return fallback;
  if (!options[field].is_number()) throw ApiError(std::string(what) + ": field '" + field + "' must be a number");
  return options[field].get<double>();
}

}  // namespace recipe_api

namespace {

using recipe_api::Runtime;

// Raises the message in upvalue 1 at the caller's file:line.
int forbidden_call(lua_State* L) { return luaL_error(L, "%s", lua_tostring(L, lua_upvalueindex(1))); }

// __index of a forbidden library table: "io.open is not available ...".
int forbidden_field(lua_State* L) {
  return luaL_error(L, "%s.%s %s", lua_tostring(L, lua_upvalueindex(1)), luaL_optstring(L, 2, "?"),
                    lua_tostring(L, lua_upvalueindex(2)));
}

void set_forbidden(lua_State* L, const char* name, const std::string& hint) {
  const std::string message = name + std::string(" is not available in recipes: ") + hint;
  lua_pushstring(L, message.c_str());
  lua_pushcclosure(L, forbidden_call, 1);
}

// Base library minus everything that reaches the host (files, processes, native code). What
// is gone is replaced by a stub whose error says what to use instead.
void open_restricted_libs(lua_State* L) {
  static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},        {LUA_TABLIBNAME, luaopen_table},
                                  {LUA_STRLIBNAME, luaopen_string}, {LUA_MATHLIBNAME, luaopen_math},
                                  {LUA_UTF8LIBNAME, luaopen_utf8},  {LUA_COLIBNAME, luaopen_coroutine},
                                  {LUA_OSLIBNAME, luaopen_os}};
  for (const auto& lib : libs) {
    luaL_requiref(L, lib.name, lib.func, 1);
    lua_pop(L, 1);
  }
  const std::pair<const char*, const char*> globals[] = {
      {"dofile", "recipes are one file"}, {"loadfile", "recipes are one file"},
      {"load", "recipes cannot compile code at run time"}, {"require", "recipes are one file"},
      {"collectgarbage", "the runtime manages memory"}};
  for (const auto& [name, hint] : globals) {
    set_forbidden(L, name, hint);
    lua_setglobal(L, name);
  }
  const std::pair<const char*, const char*> tables[] = {
      {"io", "is not available in recipes: use nagent.read_file / nagent.write_file"},
      {"package", "is not available in recipes: native code cannot be loaded"},
      {"debug", "is not available in recipes"}};
  for (const auto& [name, hint] : tables) {
    lua_newtable(L);
    lua_newtable(L);
    lua_pushstring(L, name);
    lua_pushstring(L, hint);
    lua_pushcclosure(L, forbidden_field, 2);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_setglobal(L, name);
  }
  // os: only the clock and dates.
  lua_getglobal(L, "os");
  const std::pair<const char*, const char*> os_functions[] = {
      {"execute", "use nagent.exec (sandboxed)"}, {"exit", "return from the recipe instead"},
      {"getenv", "settings come in nagent.args"}, {"remove", "recipes do not delete files"},
      {"rename", "use nagent.write_file"},        {"tmpname", "use nagent.write_file"},
      {"setlocale", "the runtime's locale is fixed"}};
  for (const auto& [name, hint] : os_functions) {
    set_forbidden(L, (std::string("os.") + name).c_str(), hint);
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

RecipeOutcome outcome_of(lua_State* L, const std::string& path) {
  RecipeOutcome outcome;
  if (lua_isboolean(L, -1)) {
    outcome.ok = lua_toboolean(L, -1);
    return outcome;
  }
  if (!lua_istable(L, -1))
    throw RecipeError(path + ": the recipe must return true/false or {ok = <boolean>, summary = <string>}, got " +
                      luaL_typename(L, -1));
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
  return outcome;
}

}  // namespace

RecipeOutcome run_recipe(const std::string& path, const json& args, RecipeHost& host) {
  std::unique_ptr<lua_State, decltype(&lua_close)> state(luaL_newstate(), &lua_close);
  lua_State* L = state.get();
  if (!L) throw RecipeError("cannot create a Lua state (out of memory)");
  Runtime rt(host, L);
  recipe_api::LuaLock lock(rt);  // this thread runs the recipe; workers wait their turn
  open_restricted_libs(L);
  if (host.hooks.cancel) {
    lua_pushlightuserdata(L, &rt);
    lua_setfield(L, LUA_REGISTRYINDEX, "nagent.runtime");
    lua_sethook(L, cancel_hook, LUA_MASKCOUNT, 10000);
  }

  lua_newtable(L);
  push_json(L, args);
  lua_setfield(L, -2, "args");
  recipe_api::register_agent_api(L, rt);
  recipe_api::register_tool_api(L, rt);
  recipe_api::register_workspace_api(L, rt);
  recipe_api::register_output_api(L, rt);
  recipe_api::register_research_api(L, rt);
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
  return outcome_of(L, path);
}

}  // namespace nagent
