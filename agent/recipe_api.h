// Internal to the recipe runtime: the state every host function shares, the wrapper that
// turns C++ exceptions into Lua errors at the recipe's file:line, and one registration
// function per group of the API (recipe_api_*.cpp).
#pragma once

#include <lua.hpp>

#include <atomic>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>

#include "agent/errors.h"
#include "agent/lua_json.h"
#include "agent/recipe_runtime.h"

namespace nagent::recipe_api {

// A host-function failure the recipe can see (bad argument, unknown tool, ...).
struct ApiError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Runtime {
  Runtime(RecipeHost& h, lua_State* state) : host(h), L(state), tools(h.tools) {}
  RecipeHost& host;
  lua_State* L;
  ToolRegistry tools;         // the host's tools, then the recipe's own (nagent.define_tool)
  std::exception_ptr fatal;   // backend/sandbox/store failure: aborts the recipe
  // The Lua state is entered from worker threads while the recipe waits in C++ for
  // concurrent sub-agents (their Lua tools and hooks); whoever enters it from C++ holds this.
  std::mutex lua_mutex;
  std::atomic<int> agents_running{0};  // > 0: ops the recipe starts now are nested

  int begin_op() { return agents_running > 0 ? host.journal.begin_nested_op() : host.journal.begin_op(); }
};

Runtime& runtime(lua_State* L);

// Whether this thread holds Runtime::lua_mutex (set by LuaLock).
bool holds_lua_lock();
// Enters the Lua state from C++ (a tool handler, a hook), unless this thread is in it already.
class LuaLock {
 public:
  explicit LuaLock(Runtime& rt);
  ~LuaLock();
  LuaLock(const LuaLock&) = delete;
  LuaLock& operator=(const LuaLock&) = delete;

 private:
  Runtime& rt_;
  bool locked_ = false;
};
// Leaves the Lua state while a long C++ call (an agent run) lets other threads in.
class LuaUnlock {
 public:
  explicit LuaUnlock(Runtime& rt);
  ~LuaUnlock();
  LuaUnlock(const LuaUnlock&) = delete;
  LuaUnlock& operator=(const LuaUnlock&) = delete;

 private:
  Runtime& rt_;
  bool unlocked_ = false;
};

// Calls the function at the top of the stack (below it, nargs arguments) with a traceback
// handler; on a Lua error throws RecipeError with the message (which names file:line), or
// rethrows the runtime's fatal error.
void call_lua(Runtime& rt, int nargs, int nresults);

// Argument helpers that throw ApiError instead of longjmp-ing over C++ frames.
std::string arg_string(lua_State* L, int i, const char* what);
std::string opt_string(lua_State* L, int i, const char* what, const std::string& fallback);
json arg_table(lua_State* L, int i, const char* what);  // a table as JSON
json opt_table(lua_State* L, int i, const char* what);  // nil -> {}
// A field of a JSON object of options, type-checked: "what: field 'name' must be a string".
std::string opt_field_string(const json& options, const char* field, const char* what, const std::string& fallback);
double opt_field_number(const json& options, const char* field, const char* what, double fallback);

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
    const int n = F(L, rt);
    if (!rt.fatal) return n;
    luaL_where(L, 1);
    lua_pushliteral(L, "runtime error (see above)");
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
    if (!rt.fatal) rt.fatal = std::current_exception();
    luaL_where(L, 1);
    lua_pushliteral(L, "runtime error (see above)");
  }
  lua_concat(L, 2);
  return lua_error(L);
}

// Sets field `name` of the table at the top of the stack to host function F.
template <int (*F)(lua_State*, Runtime&)>
void set_function(lua_State* L, Runtime& rt, const char* name) {
  lua_pushlightuserdata(L, &rt);
  lua_pushcclosure(L, &host_function<F>, 1);
  lua_setfield(L, -2, name);
}

// Each adds its functions to the `nagent` table at the top of the stack (and registers
// the metatables it needs).
void register_agent_api(lua_State* L, Runtime& rt);      // agent, agent:run/structured, parallel
void register_tool_api(lua_State* L, Runtime& rt);       // tool, define_tool, exec
void register_workspace_api(lua_State* L, Runtime& rt);  // files, git
void register_output_api(lua_State* L, Runtime& rt);     // log, print, events, reports, json
void register_research_api(lua_State* L, Runtime& rt);   // corpus_index

}  // namespace nagent::recipe_api
