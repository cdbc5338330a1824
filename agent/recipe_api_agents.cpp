// nagent.agent{...}, agent:run(task), agent:structured(prompt, schema), nagent.parallel{...}:
// agents with their budgets, hooks and (optionally) their own backend, run as journaled ops.
#include <algorithm>
#include <future>
#include <memory>
#include <optional>

#include "agent/backend_factory.h"
#include "agent/json_schema.h"
#include "agent/recipe_api.h"
#include "agent/runtime_paths.h"
#include "sandbox/policy.h"

namespace nagent::recipe_api {
namespace {

constexpr const char* kAgentMeta = "nagent.Agent";
constexpr const char* kHookFields[] = {"before_tool", "after_tool", "on_compaction", "on_finish"};

// What an agent value holds: its configuration (hooks included), the backend and sandbox it
// uses when it has its own, and the registry references of its Lua hook functions.
struct AgentHandle {
  AgentConfig config;
  std::shared_ptr<Backend> own_backend;
  std::shared_ptr<sandbox::Runner> own_runner;
  std::shared_ptr<ToolContext> own_context;  // the workspace with own_runner
  int on_finish = LUA_NOREF;
  std::vector<int> refs;

  Backend& backend(Runtime& rt) { return own_backend ? *own_backend : rt.host.backend; }
  ToolContext& context(Runtime& rt) { return own_context ? *own_context : rt.host.context; }
};

// agent{policy = "readonly"}: the policy, read before the agent's configuration since its
// `context` table gives the agent's context defaults (the agent's own context = {...} goes
// over them, in place of the run's policy's).
sandbox::Policy load_agent_policy(const std::string& name, ContextPolicy& context_defaults) {
  try {
    sandbox::Policy policy = sandbox::load_policy(name);
    context_defaults = ContextPolicy::from_policy(policy, ContextPolicy{});
    return policy;
  } catch (const std::exception& e) {
    throw ApiError("nagent.agent: policy '" + name + "': " + e.what());
  }
}

// The agent's built-in tools run in the sandbox of its policy, and only the tools it allows
// are offered.
void use_policy(Runtime& rt, AgentHandle& handle, const std::string& name, const sandbox::Policy& policy) {
  try {
    handle.own_runner = sandbox::make_runner(policy, rt.host.context.workspace.root().string());
  } catch (const std::exception& e) {
    throw ApiError("nagent.agent: policy '" + name + "': " + e.what());
  }
  const ToolContext& base = rt.host.context;
  handle.own_context = std::make_shared<ToolContext>(
      ToolContext{base.workspace, *handle.own_runner, base.test_command, base.output_limit_bytes, base.artifacts});
  if (policy.tools.empty()) return;
  auto allowed = [&](const std::string& tool) {
    return std::find(policy.tools.begin(), policy.tools.end(), tool) != policy.tools.end();
  };
  if (handle.config.tools.empty())
    for (const auto& tool : policy.tools)
      if (rt.tools.find(tool)) handle.config.tools.push_back(tool);
  // The recipe's own Lua tools are not the policy's to list; the built-in ones are.
  for (const auto& tool : handle.config.tools)
    if (rt.host.tools.find(tool) && !allowed(tool))
      throw ApiError("nagent.agent: policy '" + name + "' does not allow the tool '" + tool + "'");
}

AgentHandle& check_agent(lua_State* L, const char* method) {
  auto* handle = static_cast<AgentHandle*>(luaL_testudata(L, 1, kAgentMeta));
  if (!handle)
    throw ApiError(std::string("agent:") + method + " must be called on an agent (use a colon: agent:" + method +
                   "(...))");
  return *handle;
}

AgentConfig agent_config_from(const json& spec, const AgentConfig& defaults) {
  static const char* known[] = {"name", "system", "tools", "max_steps", "max_tokens", "max_wall_s",
                                "max_format_errors", "max_repeated_failures", "stop_on_tests_pass",
                                "finish_on_text_reply",
                                "temperature", "top_p", "max_reply_tokens", "seed", "thinking",
                                "backend", "endpoint", "model", "policy", "context"};
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
  get("max_repeated_failures", c.max_repeated_failures, "a non-negative integer", is_int);
  get("stop_on_tests_pass", c.stop_on_tests_pass, "a boolean", is_bool);
  get("finish_on_text_reply", c.finish_on_text_reply, "a boolean", is_bool);
  get("temperature", c.sampling.temperature, "a non-negative number", is_num);
  get("top_p", c.sampling.top_p, "a non-negative number", is_num);
  get("max_reply_tokens", c.sampling.max_tokens, "a non-negative integer", is_int);
  get("thinking", c.enable_thinking, "a boolean", is_bool);
  for (const char* key : {"backend", "endpoint", "model", "policy"})
    if (spec.contains(key) && !spec[key].is_string())
      throw ApiError(std::string("nagent.agent: field '") + key + "' must be a string");
  if (spec.contains("seed")) {
    if (!is_int(spec["seed"])) throw ApiError("nagent.agent: field 'seed' must be a non-negative integer");
    c.sampling.seed = spec["seed"].get<uint64_t>();
  }
  if (spec.contains("context")) {
    try {
      c.context = ContextPolicy::from_json(spec["context"].is_array() && spec["context"].empty() ? json::object()
                                                                                                 : spec["context"],
                                           c.context);
    } catch (const std::invalid_argument& e) {
      throw ApiError(std::string("nagent.agent: ") + e.what());
    }
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

json call_json(const ToolCall& call) { return {{"name", call.name}, {"arguments", call.arguments}}; }

// Pushes the Lua hook function stored under ref, then its arguments, and calls it; the
// single result is left on the stack.
template <typename PushArgs>
void call_hook(Runtime& rt, int ref, int nargs, PushArgs push_args) {
  lua_rawgeti(rt.L, LUA_REGISTRYINDEX, ref);
  push_args();
  call_lua(rt, nargs, 1);
}

void install_hooks(lua_State* L, Runtime& rt, AgentHandle& handle, int spec) {
  for (const char* field : kHookFields) {
    lua_getfield(L, spec, field);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      continue;
    }
    if (!lua_isfunction(L, -1)) throw ApiError(std::string("nagent.agent: field '") + field + "' must be a function");
    const int ref = luaL_ref(L, LUA_REGISTRYINDEX);
    handle.refs.push_back(ref);
    Runtime* r = &rt;
    if (std::string(field) == "before_tool") {
      handle.config.before_tool_call = [r, ref](const ToolCall& call) -> std::optional<std::string> {
        LuaLock lock(*r);
        call_hook(*r, ref, 1, [&] { push_json(r->L, call_json(call)); });
        std::optional<std::string> reason;
        if (lua_type(r->L, -1) == LUA_TSTRING) reason = lua_tostring(r->L, -1);
        else if (!lua_isnil(r->L, -1) && !lua_isboolean(r->L, -1))
          throw RecipeError("before_tool must return nil (allow) or a string (the reason to deny), got " +
                            std::string(luaL_typename(r->L, -1)));
        lua_pop(r->L, 1);
        return reason;
      };
    } else if (std::string(field) == "after_tool") {
      handle.config.after_tool_call = [r, ref](const ToolCall& call, ToolResult& result) {
        LuaLock lock(*r);
        call_hook(*r, ref, 2, [&] {
          push_json(r->L, call_json(call));
          push_json(r->L, {{"ok", result.ok}, {"output", result.output}, {"exit_code", result.exit_code},
                           {"data", result.data}});
        });
        if (lua_type(r->L, -1) == LUA_TSTRING) result.output = lua_tostring(r->L, -1);
        lua_pop(r->L, 1);
      };
    } else if (std::string(field) == "on_compaction") {
      handle.config.on_compaction = [r, ref](const json& info) -> std::optional<std::string> {
        LuaLock lock(*r);
        call_hook(*r, ref, 1, [&] { push_json(r->L, info); });
        std::optional<std::string> summary;
        if (lua_type(r->L, -1) == LUA_TSTRING) summary = lua_tostring(r->L, -1);
        else if (!lua_isnil(r->L, -1))
          throw RecipeError("on_compaction must return nil (let the model summarize) or a string (the summary), got " +
                            std::string(luaL_typename(r->L, -1)));
        lua_pop(r->L, 1);
        return summary;
      };
    } else {
      handle.on_finish = ref;
    }
  }
}

int api_agent(lua_State* L, Runtime& rt) {
  if (!lua_istable(L, 1)) throw ApiError("nagent.agent expects a table, e.g. nagent.agent{system = \"...\"}");
  // The spec without its hook functions, as JSON.
  lua_newtable(L);
  const int copy = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, 1) != 0) {
    const bool hook = lua_type(L, -2) == LUA_TSTRING &&
                      std::any_of(std::begin(kHookFields), std::end(kHookFields),
                                  [&](const char* f) { return std::string(lua_tostring(L, -2)) == f; });
    if (hook) {
      lua_pop(L, 1);
      continue;
    }
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_settable(L, copy);
  }
  const json spec = arg_table(L, copy, "nagent.agent");
  lua_pop(L, 1);
  // A policy must be a string; agent_config_from says so with the other field errors.
  const bool own_policy = spec.is_object() && spec.contains("policy") && spec["policy"].is_string();
  AgentConfig defaults = rt.host.agent_defaults;
  sandbox::Policy policy;
  if (own_policy) policy = load_agent_policy(spec["policy"].get<std::string>(), defaults.context);
  AgentConfig config = agent_config_from(spec.is_array() ? json::object() : spec, defaults);
  for (const auto& name : config.tools)
    if (!rt.tools.find(name)) throw ApiError("nagent.agent: unknown tool '" + name + "'");

  std::shared_ptr<Backend> own_backend;
  if (spec.is_object() && (spec.contains("endpoint") || spec.contains("model") || spec.contains("backend"))) {
    try {
      own_backend = make_backend({spec.value("backend", ""), spec.value("endpoint", env_or("NAGENT_ENDPOINT", "")),
                                  spec.value("model", ""), env_or("NAGENT_API_KEY", ""), 0, -1});
    } catch (const ConfigError& e) {
      throw ApiError(std::string("nagent.agent: ") + e.what());
    }
  }
  void* mem = lua_newuserdatauv(L, sizeof(AgentHandle), 0);
  auto* handle = new (mem) AgentHandle{std::move(config), std::move(own_backend), nullptr, nullptr, LUA_NOREF, {}};
  luaL_setmetatable(L, kAgentMeta);
  if (own_policy) use_policy(rt, *handle, spec["policy"].get<std::string>(), policy);
  install_hooks(L, rt, *handle, 1);
  return 1;
}

int agent_gc(lua_State* L) {
  auto* handle = static_cast<AgentHandle*>(luaL_checkudata(L, 1, kAgentMeta));
  for (int ref : handle->refs) luaL_unref(L, LUA_REGISTRYINDEX, ref);
  handle->~AgentHandle();
  return 0;
}

// Runs (or replays) one agent op; called without the Lua lock when agents run concurrently.
AgentResult run_agent_op(Runtime& rt, AgentHandle& handle, const std::string& task, int op) {
  Journal& journal = rt.host.journal;
  if (auto recorded = journal.recorded_result(op)) return AgentResult::from_json(*recorded);
  Agent agent(handle.config, handle.backend(rt), rt.tools, handle.context(rt), journal);
  ++rt.agents_running;
  AgentResult result;
  try {
    result = agent.run(task, op, rt.host.hooks);
  } catch (...) {
    --rt.agents_running;
    throw;
  }
  --rt.agents_running;
  journal.record("op_end", {{"op", op}, {"kind", "agent"}, {"name", handle.config.name}, {"result", result.to_json()}});
  return result;
}

void push_agent_result(lua_State* L, Runtime& rt, AgentHandle& handle, const AgentResult& result, int op) {
  json j = result.to_json();
  j["op"] = op;
  if (handle.on_finish != LUA_NOREF) {
    call_hook(rt, handle.on_finish, 1, [&] { push_json(L, j); });
    lua_pop(L, 1);
  }
  push_json(L, j);
}

int api_agent_run(lua_State* L, Runtime& rt) {
  AgentHandle& handle = check_agent(L, "run");
  std::string task = arg_string(L, 2, "agent:run: the task");
  const int op = rt.begin_op();
  AgentResult result;
  {
    LuaUnlock unlock(rt);  // let concurrent sub-agents use their Lua tools meanwhile
    result = run_agent_op(rt, handle, task, op);
  }
  push_agent_result(L, rt, handle, result, op);
  return 1;
}

// nagent.parallel{{agent = a, task = "..."}, ...}: the agents run at once, each with its
// own context, against their backends; results come back in the order given.
int api_parallel(lua_State* L, Runtime& rt) {
  if (!lua_istable(L, 1)) throw ApiError("nagent.parallel expects a list of {agent = <agent>, task = <string>}");
  const json options = opt_table(L, 2, "nagent.parallel: the options");
  const int max_concurrent = int(opt_field_number(options, "max_concurrent", "nagent.parallel", 0));
  struct Job {
    AgentHandle* handle;
    std::string task;
    int op;
    AgentResult result;
  };
  std::vector<Job> jobs;
  const lua_Integer n = luaL_len(L, 1);
  for (lua_Integer i = 1; i <= n; ++i) {
    lua_rawgeti(L, 1, i);
    const std::string where = "nagent.parallel: item " + std::to_string(i);
    if (!lua_istable(L, -1)) throw ApiError(where + " must be a table {agent = <agent>, task = <string>}");
    lua_getfield(L, -1, "agent");
    auto* handle = static_cast<AgentHandle*>(luaL_testudata(L, -1, kAgentMeta));
    if (!handle) throw ApiError(where + ": field 'agent' must be an agent (from nagent.agent)");
    lua_getfield(L, -2, "task");
    const std::string task = arg_string(L, -1, (where + ": field 'task'").c_str());
    lua_pop(L, 3);
    jobs.push_back({handle, task, 0, {}});
  }
  for (auto& job : jobs) job.op = rt.begin_op();  // in list order, so a resume numbers them alike
  {
    LuaUnlock unlock(rt);
    const size_t width = max_concurrent > 0 ? size_t(max_concurrent) : jobs.size();
    std::exception_ptr first_error;
    for (size_t start = 0; start < jobs.size(); start += width) {
      std::vector<std::future<void>> running;
      for (size_t k = start; k < std::min(jobs.size(), start + width); ++k)
        running.push_back(std::async(std::launch::async, [&rt, &job = jobs[k]] {
          job.result = run_agent_op(rt, *job.handle, job.task, job.op);
        }));
      for (auto& f : running) {
        try {
          f.get();
        } catch (...) {
          if (!first_error) first_error = std::current_exception();
        }
      }
      if (first_error) std::rethrow_exception(first_error);
    }
  }
  lua_createtable(L, int(jobs.size()), 0);
  for (size_t k = 0; k < jobs.size(); ++k) {
    push_agent_result(L, rt, *jobs[k].handle, jobs[k].result, jobs[k].op);
    lua_rawseti(L, -2, lua_Integer(k + 1));
  }
  return 1;
}

// agent:structured(prompt, schema [, {retries = 2}]) -> value | nil, error
// One model turn without tools asking for JSON only; a reply that does not parse or does
// not match the schema is answered with the problem and asked again, up to `retries` times.
int api_agent_structured(lua_State* L, Runtime& rt) {
  AgentHandle& handle = check_agent(L, "structured");
  const std::string prompt = arg_string(L, 2, "agent:structured: the prompt");
  const json schema = arg_table(L, 3, "agent:structured: the schema");
  const json options = opt_table(L, 4, "agent:structured: the options");
  const int retries = int(opt_field_number(options, "retries", "agent:structured", 2));
  Journal& journal = rt.host.journal;
  const int op = rt.begin_op();
  json result;
  if (auto recorded = journal.recorded_result(op)) {
    result = *recorded;
  } else {
    LuaUnlock unlock(rt);
    ChatRequest request;
    request.sampling = handle.config.sampling;
    request.enable_thinking = handle.config.enable_thinking;
    if (!handle.config.system_prompt.empty()) request.messages.push_back(Message::system(handle.config.system_prompt));
    request.messages.push_back(Message::user(
        prompt + "\n\nReply with only one JSON value (no prose, no code fence) that matches this JSON Schema:\n" +
        schema.dump()));
    std::string problem;
    int attempt = 0;
    for (; attempt <= retries; ++attempt) {
      if (rt.host.hooks.cancelled()) throw Cancelled();
      ChatReply reply = handle.backend(rt).chat(request, rt.host.hooks.on_delta);
      try {
        json value = parse_json_reply(reply.content);
        problem = schema_problem(schema, value);
        if (problem.empty()) result = {{"ok", true}, {"value", value}};
      } catch (const std::invalid_argument& e) {
        problem = e.what();
      }
      journal.record("structured_reply", {{"op", op}, {"attempt", attempt}, {"content", reply.content},
                                          {"problem", problem}});
      if (problem.empty()) break;
      request.messages.push_back({"assistant", reply.content, {}, {}, {}, {}});
      request.messages.push_back(Message::user("That reply is not valid: " + problem +
                                               ". Reply again with only the corrected JSON value."));
    }
    if (!problem.empty())
      result = {{"ok", false}, {"error", "no valid JSON after " + std::to_string(attempt) + " replies: " + problem}};
    journal.record("op_end", {{"op", op}, {"kind", "structured"}, {"name", handle.config.name}, {"result", result}});
  }
  if (result.value("ok", false)) {
    push_json(L, result["value"]);
    return 1;
  }
  lua_pushnil(L);
  const std::string error = result.value("error", "no valid JSON");
  lua_pushlstring(L, error.data(), error.size());
  return 2;
}

}  // namespace

void register_agent_api(lua_State* L, Runtime& rt) {
  luaL_newmetatable(L, kAgentMeta);
  lua_pushcfunction(L, agent_gc);
  lua_setfield(L, -2, "__gc");
  lua_newtable(L);
  set_function<api_agent_run>(L, rt, "run");
  set_function<api_agent_structured>(L, rt, "structured");
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  set_function<api_agent>(L, rt, "agent");
  set_function<api_parallel>(L, rt, "parallel");
}

}  // namespace nagent::recipe_api
