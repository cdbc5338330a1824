#include "agent/lua_json.h"

#include <stdexcept>
#include <string>

namespace nagent {
namespace {

bool is_sequence(lua_State* L, int index, lua_Integer& length) {
  length = 0;
  lua_Integer count = 0;
  lua_pushnil(L);
  while (lua_next(L, index) != 0) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TNUMBER || !lua_isinteger(L, -1)) {
      lua_pop(L, 1);
      return false;
    }
    lua_Integer k = lua_tointeger(L, -1);
    if (k < 1) {
      lua_pop(L, 1);
      return false;
    }
    if (k > length) length = k;
    ++count;
  }
  return count == length;
}

json convert(lua_State* L, int index, int depth) {
  if (depth > 64) throw std::invalid_argument("value nested too deeply (or a cycle) for JSON");
  index = lua_absindex(L, index);
  switch (lua_type(L, index)) {
    case LUA_TNIL: return nullptr;
    case LUA_TBOOLEAN: return bool(lua_toboolean(L, index));
    case LUA_TNUMBER:
      if (lua_isinteger(L, index)) return int64_t(lua_tointeger(L, index));
      return double(lua_tonumber(L, index));
    case LUA_TSTRING: {
      size_t n = 0;
      const char* s = lua_tolstring(L, index, &n);
      return std::string(s, n);
    }
    case LUA_TTABLE: {
      lua_Integer length = 0;
      if (is_sequence(L, index, length)) {
        json arr = json::array();
        for (lua_Integer i = 1; i <= length; ++i) {
          lua_rawgeti(L, index, i);
          arr.push_back(convert(L, -1, depth + 1));
          lua_pop(L, 1);
        }
        return arr;
      }
      json obj = json::object();
      lua_pushnil(L);
      while (lua_next(L, index) != 0) {
        std::string key;
        if (lua_type(L, -2) == LUA_TSTRING) {
          key = lua_tostring(L, -2);
        } else if (lua_type(L, -2) == LUA_TNUMBER) {
          lua_pushvalue(L, -2);
          key = lua_tostring(L, -1);
          lua_pop(L, 1);
        } else {
          throw std::invalid_argument("table keys must be strings or numbers to convert to JSON");
        }
        obj[key] = convert(L, -1, depth + 1);
        lua_pop(L, 1);
      }
      return obj;
    }
    default:
      throw std::invalid_argument(std::string("cannot convert a ") + luaL_typename(L, index) + " to JSON");
  }
}

}  // namespace

void push_json(lua_State* L, const json& value) {
  switch (value.type()) {
    case json::value_t::null: lua_pushnil(L); break;
    case json::value_t::boolean: lua_pushboolean(L, value.get<bool>()); break;
    case json::value_t::number_integer: lua_pushinteger(L, value.get<int64_t>()); break;
    case json::value_t::number_unsigned: lua_pushinteger(L, lua_Integer(value.get<uint64_t>())); break;
    case json::value_t::number_float: lua_pushnumber(L, value.get<double>()); break;
    case json::value_t::string: {
      const auto& s = value.get_ref<const std::string&>();
      lua_pushlstring(L, s.data(), s.size());
      break;
    }
    case json::value_t::array: {
      lua_createtable(L, int(value.size()), 0);
      lua_Integer i = 1;
      for (const auto& v : value) {
        push_json(L, v);
        lua_rawseti(L, -2, i++);
      }
      break;
    }
    case json::value_t::object: {
      lua_createtable(L, 0, int(value.size()));
      for (const auto& [k, v] : value.items()) {
        push_json(L, v);
        lua_setfield(L, -2, k.c_str());
      }
      break;
    }
    default: lua_pushnil(L); break;
  }
}

json to_json(lua_State* L, int index) { return convert(L, index, 0); }

}  // namespace nagent
