// Conversion between Lua values and JSON for the recipe host API.
#pragma once

#include <lua.hpp>

#include "engine/chat.h"

namespace nagent {

// Pushes a JSON value: objects and arrays become tables, null becomes nil.
void push_json(lua_State* L, const json& value);

// Reads the value at index: a table with keys 1..n (or empty) becomes an array, any other
// table an object (keys must be strings or numbers). Throws std::invalid_argument for
// functions, userdata and cycles (never longjmps, so C++ callers stay safe).
json to_json(lua_State* L, int index);

}  // namespace nagent
