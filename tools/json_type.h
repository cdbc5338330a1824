// JSON Schema's "type" keyword against a value, shared by the tool-argument validator
// (tools/arguments.cpp) and the structured-output validator (agent/json_schema.cpp).
#pragma once

#include <cmath>
#include <string>

#include "engine/chat.h"

namespace nagent {

// Whether v is of JSON Schema type `type`; a type name we do not know matches anything.
// 3.0 is an integer to JSON Schema, and some servers print integers that way.
inline bool json_has_type(const json& v, const std::string& type) {
  if (type == "string") return v.is_string();
  if (type == "boolean") return v.is_boolean();
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "null") return v.is_null();
  if (type == "number") return v.is_number();
  if (type == "integer")
    return v.is_number_integer() ||
           (v.is_number_float() && std::isfinite(v.get<double>()) && v.get<double>() == std::floor(v.get<double>()));
  return true;
}

}  // namespace nagent
