#include "agent/json_schema.h"

#include <stdexcept>

#include "tools/json_type.h"

namespace nagent {
namespace {

std::string check(const json& schema, const json& v, const std::string& where) {
  if (!schema.is_object()) return "";
  if (schema.contains("type")) {
    const json& t = schema["type"];
    bool ok = false;
    std::string wanted;
    for (const auto& one : t.is_array() ? t : json::array({t})) {
      ok = ok || json_has_type(v, one.get<std::string>());
      wanted += (wanted.empty() ? "" : " or ") + one.get<std::string>();
    }
    if (!ok) return where + ": must be " + wanted + ", got " + v.dump().substr(0, 60);
  }
  if (schema.contains("enum")) {
    bool found = false;
    std::string options;
    for (const auto& e : schema["enum"]) {
      found = found || e == v;
      options += (options.empty() ? "" : ", ") + e.dump();
    }
    if (!found) return where + ": must be one of " + options;
  }
  if (v.is_number()) {
    if (schema.contains("minimum") && v.get<double>() < schema["minimum"].get<double>())
      return where + ": must be at least " + schema["minimum"].dump();
    if (schema.contains("maximum") && v.get<double>() > schema["maximum"].get<double>())
      return where + ": must be at most " + schema["maximum"].dump();
  }
  if (v.is_string() && schema.contains("minLength") && v.get_ref<const std::string&>().size() < schema["minLength"].get<size_t>())
    return where + ": must have at least " + schema["minLength"].dump() + " characters";
  if (v.is_array()) {
    if (schema.contains("minItems") && v.size() < schema["minItems"].get<size_t>())
      return where + ": must have at least " + schema["minItems"].dump() + " items";
    if (schema.contains("maxItems") && v.size() > schema["maxItems"].get<size_t>())
      return where + ": must have at most " + schema["maxItems"].dump() + " items";
    if (schema.contains("items"))
      for (size_t i = 0; i < v.size(); ++i)
        if (auto p = check(schema["items"], v[i], where + "[" + std::to_string(i) + "]"); !p.empty()) return p;
  }
  if (v.is_object()) {
    for (const auto& r : schema.value("required", json::array()))
      if (!v.contains(r.get<std::string>())) return where + ": missing required field \"" + r.get<std::string>() + "\"";
    const json props = schema.value("properties", json::object());
    const bool closed = schema.contains("additionalProperties") && schema["additionalProperties"] == false;
    for (const auto& [key, value] : v.items()) {
      if (props.contains(key)) {
        if (auto p = check(props[key], value, where + "." + key); !p.empty()) return p;
      } else if (closed) {
        return where + ": unknown field \"" + key + "\"";
      }
    }
  }
  return "";
}

}  // namespace

std::string schema_problem(const json& schema, const json& value) { return check(schema, value, "$"); }

json parse_json_reply(const std::string& text) {
  const size_t start = text.find_first_of("{[");
  if (start == std::string::npos) throw std::invalid_argument("the reply contains no JSON object or array");
  // The longest parseable span from the first bracket to one of the closing brackets.
  const char close = text[start] == '{' ? '}' : ']';
  std::string last_error;
  for (size_t end = text.rfind(close); end != std::string::npos && end > start; end = text.rfind(close, end - 1)) {
    try {
      return json::parse(text.substr(start, end - start + 1));
    } catch (const json::parse_error& e) {
      if (last_error.empty()) last_error = e.what();
    }
  }
  throw std::invalid_argument("the reply's JSON does not parse" + (last_error.empty() ? "" : ": " + last_error));
}

}  // namespace nagent
