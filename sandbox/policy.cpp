// Reading policy files: each is a Lua chunk returning a table, run in a state with only
// the base (minus file/chunk loading), string, table and math libraries, an instruction
// budget and a memory cap, so a policy can compute values but cannot touch the host.
#include "sandbox/policy.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <stdexcept>

extern "C" {
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
}

#include "nagent/version.h"

namespace nagent::sandbox {

namespace {

constexpr size_t kLuaMemoryCap = 16u << 20;
constexpr int kLuaInstructionBudget = 10'000'000;
constexpr int kMaxExtendsDepth = 8;

struct Budget {
  size_t used = 0;
};

void* capped_alloc(void* ud, void* ptr, size_t osize, size_t nsize) {
  auto* budget = static_cast<Budget*>(ud);
  size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    budget->used -= old;
    std::free(ptr);
    return nullptr;
  }
  if (budget->used - old + nsize > kLuaMemoryCap) return nullptr;
  void* p = std::realloc(ptr, nsize);
  if (p) budget->used = budget->used - old + nsize;
  return p;
}

void instruction_hook(lua_State* L, lua_Debug*) {
  luaL_error(L, "instruction budget exhausted (an endless loop?)");
}

std::string data_dir() {
  const char* env = std::getenv("NAGENT_DATA_DIR");
  return env && *env ? env : NAGENT_DEFAULT_DATA_DIR;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("policy " + path + ": cannot read the file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::string stem_of(const std::string& path) {
  auto slash = path.rfind('/');
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base.size() > 4 && base.ends_with(".lua")) base.resize(base.size() - 4);
  return base;
}

// Resolves a policy name or path to a file; `near` is the directory of the policy that
// names it in `extends` ("" at top level).
std::string policy_file(const std::string& name_or_path, const std::string& near) {
  if (name_or_path.find('/') != std::string::npos || name_or_path.ends_with(".lua"))
    return name_or_path;
  std::string dir = near.empty() ? data_dir() + "/policies" : near;
  return dir + "/" + name_or_path + ".lua";
}

// Walks one policy table and applies its keys onto a Policy, with errors that name the
// file and the dotted key.
class Reader {
 public:
  Reader(lua_State* L, std::string file) : L_(L), file_(std::move(file)) {}

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw std::runtime_error("policy " + file_ + ": key '" + key + "': " + what);
  }

  // A short rendering of the value at the top of the stack, for error messages.
  std::string got() const {
    int t = lua_type(L_, -1);
    if (t == LUA_TSTRING) return "got \"" + std::string(lua_tostring(L_, -1)) + "\"";
    if (t == LUA_TNUMBER) {
      lua_pushvalue(L_, -1);
      std::string s = lua_tostring(L_, -1);
      lua_pop(L_, 1);
      return "got " + s;
    }
    if (t == LUA_TBOOLEAN) return lua_toboolean(L_, -1) ? "got true" : "got false";
    return std::string("got a ") + lua_typename(L_, t);
  }

  std::string string(const std::string& key) const {
    if (lua_type(L_, -1) != LUA_TSTRING) fail(key, "expected a string, " + got());
    return lua_tostring(L_, -1);
  }

  bool boolean(const std::string& key) const {
    if (!lua_isboolean(L_, -1)) fail(key, "expected true or false, " + got());
    return lua_toboolean(L_, -1);
  }

  uint64_t positive(const std::string& key) const {
    int is_int = 0;
    lua_Integer v = lua_tointegerx(L_, -1, &is_int);
    if (lua_type(L_, -1) != LUA_TNUMBER || !is_int || v <= 0)
      fail(key, "expected a positive integer, " + got());
    return static_cast<uint64_t>(v);
  }

  std::string choice(const std::string& key, std::initializer_list<const char*> options) const {
    std::string s = lua_type(L_, -1) == LUA_TSTRING ? lua_tostring(L_, -1) : "";
    std::string list;
    for (const char* o : options) {
      if (s == o) return s;
      list += std::string(list.empty() ? "" : " or ") + "\"" + o + "\"";
    }
    fail(key, "expected " + list + ", " + got());
  }

  // Calls f(key_string) for each string key of the table at the top of the stack, with
  // the value on top; a non-table or a non-string key is an error.
  void each_field(const std::string& key, const std::function<void(const std::string&)>& f) const {
    if (!lua_istable(L_, -1)) fail(key, "expected a table, " + got());
    lua_pushnil(L_);
    while (lua_next(L_, -2)) {
      if (lua_type(L_, -2) != LUA_TSTRING) {
        lua_pop(L_, 1);
        fail(key, "expected only named fields");
      }
      std::string name = lua_tostring(L_, -2);
      f(name);
      lua_pop(L_, 1);
    }
  }

  // Calls f(index_key) for each element 1..n of the list at the top of the stack.
  void each_item(const std::string& key, const std::function<void(const std::string&)>& f) const {
    if (!lua_istable(L_, -1)) fail(key, "expected a list, " + got());
    lua_Integer n = luaL_len(L_, -1);
    size_t fields = 0;
    lua_pushnil(L_);
    while (lua_next(L_, -2)) {
      ++fields;
      lua_pop(L_, 1);
    }
    if (fields != static_cast<size_t>(n)) fail(key, "expected a list (1, 2, ... without gaps or names)");
    for (lua_Integer i = 1; i <= n; ++i) {
      lua_rawgeti(L_, -1, i);
      f(key + "[" + std::to_string(i) + "]");
      lua_pop(L_, 1);
    }
  }

  // A number (integer or not), string or boolean, as JSON.
  nlohmann::ordered_json scalar(const std::string& key) const {
    switch (lua_type(L_, -1)) {
      case LUA_TNUMBER:
        if (lua_isinteger(L_, -1)) return static_cast<int64_t>(lua_tointeger(L_, -1));
        {
          // 2^16 is a float in Lua; a whole number counts as an integer (window = 2^16).
          const double v = lua_tonumber(L_, -1);
          if (std::floor(v) == v && std::fabs(v) < 9.0e15) return static_cast<int64_t>(v);
          return v;
        }
      case LUA_TSTRING: return std::string(lua_tostring(L_, -1));
      case LUA_TBOOLEAN: return static_cast<bool>(lua_toboolean(L_, -1));
      default: fail(key, "expected a number, a string or true/false, " + got());
    }
  }

  std::vector<std::string> strings(const std::string& key) const {
    std::vector<std::string> out;
    each_item(key, [&](const std::string& k) { out.push_back(string(k)); });
    return out;
  }

  std::string expand_home(const std::string& key, const std::string& path) const {
    std::string p = path;
    if (p == "~" || p.starts_with("~/")) {
      const char* home = std::getenv("HOME");
      if (!home || !*home) fail(key, "uses ~ but HOME is not set");
      p = home + p.substr(1);
    }
    if (p.empty() || p[0] != '/') fail(key, "expected an absolute path (or ~/...), got \"" + path + "\"");
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    return p;
  }

  Bind bind(const std::string& key) const {
    Bind b;
    if (lua_type(L_, -1) == LUA_TSTRING) {
      b.path = expand_home(key, lua_tostring(L_, -1));
      return b;
    }
    if (!lua_istable(L_, -1)) fail(key, "expected a path or { path, writable = bool, optional = bool }, " + got());
    lua_rawgeti(L_, -1, 1);
    if (lua_type(L_, -1) != LUA_TSTRING) fail(key + "[1]", "expected the path, " + got());
    b.path = expand_home(key, lua_tostring(L_, -1));
    lua_pop(L_, 1);
    each_field_or_first(key, [&](const std::string& name) {
      std::string k = key + "." + name;
      if (name == "writable") b.writable = boolean(k);
      else if (name == "optional") b.optional = boolean(k);
      else fail(k, "unknown key (expected writable or optional)");
    });
    return b;
  }

  void apply(Policy& p) const {
    each_field("(top level)", [&](const std::string& key) {
      if (key == "extends") return;  // handled by the loader
      if (key == "description") p.description = string(key);
      else if (key == "workspace") p.workspace_writable = choice(key, {"rw", "ro"}) == "rw";
      else if (key == "git") p.git_writable = choice(key, {"ro", "rw"}) == "rw";
      else if (key == "network") p.network = choice(key, {"none", "host"}) == "host";
      else if (key == "toolchains") p.toolchains = boolean(key);
      else if (key == "binds") {
        p.binds.clear();
        each_item(key, [&](const std::string& k) { p.binds.push_back(bind(k)); });
      } else if (key == "seccomp") p.seccomp = choice(key, {"default", "none"});
      else if (key == "seccomp_deny") p.seccomp_deny = strings(key);
      else if (key == "tmp_size_mb") p.tmp_size_mb = positive(key);
      else if (key == "env") p.env = strings(key);
      else if (key == "set_env") {
        each_field(key, [&](const std::string& name) { p.set_env[name] = string(key + "." + name); });
      } else if (key == "tools") p.tools = strings(key);
      else if (key == "limits") {
        each_field(key, [&](const std::string& name) {
          std::string k = key + "." + name;
          Limits& l = p.limits;
          if (name == "cpu_seconds") l.cpu_seconds = positive(k);
          else if (name == "address_space_mb") l.address_space_mb = positive(k);
          else if (name == "file_size_mb") l.file_size_mb = positive(k);
          else if (name == "open_files") l.open_files = positive(k);
          else if (name == "processes") l.processes = positive(k);
          else if (name == "memory_mb") l.memory_mb = positive(k);
          else if (name == "cpu_percent") l.cpu_percent = positive(k);
          else fail(k, "unknown limit (expected cpu_seconds, address_space_mb, file_size_mb, "
                       "open_files, processes, memory_mb or cpu_percent)");
        });
      } else if (key == "allow_without") {
        each_field(key, [&](const std::string& name) {
          std::string k = key + "." + name;
          if (name == "namespaces") p.allow_without.namespaces = boolean(k);
          else if (name == "seccomp") p.allow_without.seccomp = boolean(k);
          else if (name == "cgroups") p.allow_without.cgroups = boolean(k);
          else fail(k, "unknown mechanism (expected namespaces, seccomp or cgroups)");
        });
      } else if (key == "context") {
        ContextSettings layer{file_, nlohmann::ordered_json::object()};
        each_field(key, [&](const std::string& name) { layer.settings[name] = scalar(key + "." + name); });
        p.context.push_back(std::move(layer));
      } else {
        fail(key, "unknown key (expected description, extends, workspace, git, network, "
                  "toolchains, binds, seccomp, seccomp_deny, tmp_size_mb, env, set_env, tools, "
                  "limits, allow_without or context)");
      }
    });
  }

 private:
  // Like each_field, but skips the positional path at [1] of a bind table.
  void each_field_or_first(const std::string& key, const std::function<void(const std::string&)>& f) const {
    lua_pushnil(L_);
    while (lua_next(L_, -2)) {
      if (lua_type(L_, -2) == LUA_TNUMBER && lua_tointeger(L_, -2) == 1) {
        lua_pop(L_, 1);
        continue;
      }
      if (lua_type(L_, -2) != LUA_TSTRING) {
        lua_pop(L_, 1);
        fail(key, "expected { path, writable = bool, optional = bool }");
      }
      std::string name = lua_tostring(L_, -2);
      f(name);
      lua_pop(L_, 1);
    }
  }

  lua_State* L_;
  std::string file_;
};

struct LuaState {
  Budget budget;
  lua_State* L;
  LuaState() : L(lua_newstate(capped_alloc, &budget)) {
    if (!L) throw std::runtime_error("policy: cannot create a Lua state");
    const std::pair<const char*, lua_CFunction> libs[] = {{"_G", luaopen_base},
                                                          {LUA_STRLIBNAME, luaopen_string},
                                                          {LUA_TABLIBNAME, luaopen_table},
                                                          {LUA_MATHLIBNAME, luaopen_math}};
    for (const auto& [name, open] : libs) {
      luaL_requiref(L, name, open, 1);
      lua_pop(L, 1);
    }
    for (const char* unsafe : {"dofile", "loadfile", "load", "require", "collectgarbage"}) {
      lua_pushnil(L);
      lua_setglobal(L, unsafe);
    }
    lua_sethook(L, instruction_hook, LUA_MASKCOUNT, kLuaInstructionBudget);
  }
  ~LuaState() { lua_close(L); }
};

void load_into(Policy& policy, const std::string& file, int depth, std::set<std::string>& seen) {
  if (depth > kMaxExtendsDepth) throw std::runtime_error("policy " + file + ": 'extends' nests too deep");
  if (!seen.insert(file).second) throw std::runtime_error("policy " + file + ": 'extends' forms a cycle");
  std::string text = read_file(file);
  LuaState lua;
  lua_State* L = lua.L;
  if (luaL_loadbufferx(L, text.data(), text.size(), ("@" + file).c_str(), "t") != LUA_OK ||
      lua_pcall(L, 0, 1, 0) != LUA_OK) {
    std::string err = lua_tostring(L, -1) ? lua_tostring(L, -1) : "error";
    throw std::runtime_error("policy " + file + ": " + err);
  }
  if (!lua_istable(L, -1)) throw std::runtime_error("policy " + file + ": must return a table");
  lua_getfield(L, -1, "extends");
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TSTRING)
      throw std::runtime_error("policy " + file + ": key 'extends': expected a policy name or path");
    load_into(policy, policy_file(lua_tostring(L, -1), dir_of(file)), depth + 1, seen);
  }
  lua_pop(L, 1);
  Reader(L, file).apply(policy);
}

}  // namespace

Policy load_policy(const std::string& name_or_path) {
  Policy policy;
  if (name_or_path == "none") {
    policy.name = "none";
    policy.description = "no isolation: own process group, scrubbed environment, timeout, output caps";
    policy.isolate = false;
    return policy;
  }
  if (name_or_path.empty()) throw std::runtime_error("policy: empty name");
  std::string file = policy_file(name_or_path, "");
  if (file.find('/') != std::string::npos && name_or_path.find('/') == std::string::npos &&
      !name_or_path.ends_with(".lua") && !std::ifstream(file)) {
    throw std::runtime_error("policy '" + name_or_path + "': no such policy (looked for " + file +
                             "; shipped: default, readonly, build, none)");
  }
  std::set<std::string> seen;
  load_into(policy, file, 0, seen);
  policy.name = stem_of(file);
  policy.source = file;
  return policy;
}

}  // namespace nagent::sandbox
