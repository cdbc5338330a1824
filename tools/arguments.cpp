// validate_arguments: the subset of JSON Schema our tools use (object with properties,
// required, additionalProperties, and per-property type / enum / minimum / maximum /
// items.type). Messages name the argument and restate the tool's signature, so a model
// that guessed wrong (e.g. "file_text" for "content") can fix the call in one step.
#include "tools/json_type.h"
#include "tools/tool.h"

namespace nagent {

namespace {

std::string type_of(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "integer";
    case json::value_t::number_float: return "number";
    case json::value_t::string: return "string";
    case json::value_t::array: return "array";
    case json::value_t::object: return "object";
    default: return "value";
  }
}

std::string article(const std::string& type) {
  return (type == "integer" || type == "array" || type == "object") ? "an " + type : "a " + type;
}

std::string shown(const json& v) {
  std::string s = v.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

// "path (string, required), start_line (integer)"
std::string signature(const json& schema) {
  std::string out;
  const json required = schema.value("required", json::array());
  if (!schema.contains("properties")) return "(none)";
  for (const auto& [key, prop] : schema["properties"].items()) {
    if (!out.empty()) out += ", ";
    out += key + " (" + prop.value("type", std::string("any"));
    for (const auto& r : required) {
      if (r == key) out += ", required";
    }
    out += ")";
  }
  return out.empty() ? "(none)" : out;
}

std::string check_value(const std::string& where, const json& v, const json& prop) {
  if (prop.contains("type")) {
    const json& t = prop["type"];
    bool ok = false;
    std::string wanted;
    if (t.is_array()) {
      for (const auto& one : t) {
        ok = ok || json_has_type(v, one.get<std::string>());
        wanted += (wanted.empty() ? "" : " or ") + one.get<std::string>();
      }
    } else {
      ok = json_has_type(v, t.get<std::string>());
      wanted = article(t.get<std::string>());
    }
    if (!ok) return where + " must be " + wanted + ", got " + type_of(v) + " " + shown(v);
  }
  if (prop.contains("enum")) {
    bool found = false;
    for (const auto& e : prop["enum"]) found = found || e == v;
    if (!found) return where + " must be one of " + prop["enum"].dump() + ", got " + shown(v);
  }
  if (v.is_number()) {
    double d = v.get<double>();
    if (prop.contains("minimum") && d < prop["minimum"].get<double>()) {
      return where + " must be at least " + prop["minimum"].dump() + ", got " + shown(v);
    }
    if (prop.contains("maximum") && d > prop["maximum"].get<double>()) {
      return where + " must be at most " + prop["maximum"].dump() + ", got " + shown(v);
    }
  }
  if (v.is_array() && prop.contains("items")) {
    for (size_t i = 0; i < v.size(); ++i) {
      std::string err = check_value(where + "[" + std::to_string(i) + "]", v[i], prop["items"]);
      if (!err.empty()) return err;
    }
  }
  return "";
}

}  // namespace

std::string validate_arguments(const Tool& tool, const json& args) {
  const json schema = tool.parameters();
  const std::string name = tool.name();
  const std::string sig = ". " + name + " takes: " + signature(schema);
  if (!args.is_object()) return "arguments of " + name + " must be a JSON object, got " + type_of(args) + sig;
  const json props = schema.value("properties", json::object());
  for (const auto& r : schema.value("required", json::array())) {
    const std::string key = r.get<std::string>();
    if (!args.contains(key)) return "missing required argument '" + key + "' for " + name + sig;
  }
  for (const auto& [key, value] : args.items()) {
    if (!props.contains(key)) {
      if (schema.value("additionalProperties", true) == false) {
        return "unknown argument '" + key + "' for " + name + sig;
      }
      continue;
    }
    std::string err = check_value("argument '" + key + "' of " + name, value, props[key]);
    if (!err.empty()) return err;
  }
  return "";
}

}  // namespace nagent
