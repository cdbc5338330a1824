// convert_parameter: a qwen3_coder parameter value (always text on the wire) to the JSON
// type its schema names. The model learns from the error text, so failures say what was
// expected and what was written.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string_view>

#include "agent/qwen3_coder_parser.h"

namespace nagent {
namespace {

std::string_view trim(std::string_view s) {
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// What the model wrote, short enough for an error message.
std::string excerpt(std::string_view s) {
  constexpr size_t kMax = 60;
  std::string out(s.substr(0, kMax));
  if (s.size() > kMax) out += "...";
  return "'" + out + "'";
}

// The schema's type vocabulary, including the loose names vLLM accepts (int32, float,
// dict, list, ...) so hand-written schemas work too.
enum class Kind { String, Integer, Number, Boolean, Null, Object, Array, Any };

Kind kind_of(const std::string& type_name) {
  const std::string t = lower(type_name);
  if (t == "string" || t == "str" || t == "text" || t == "varchar" || t == "char" || t == "enum") return Kind::String;
  if (starts_with(t, "int") || starts_with(t, "uint") || starts_with(t, "long") || starts_with(t, "short") ||
      starts_with(t, "unsigned"))
    return Kind::Integer;
  if (starts_with(t, "num") || starts_with(t, "float") || t == "double") return Kind::Number;
  if (t == "boolean" || t == "bool") return Kind::Boolean;
  if (t == "null" || t == "none") return Kind::Null;
  if (t == "object" || starts_with(t, "dict") || t == "map") return Kind::Object;
  if (t == "array" || t == "arr" || starts_with(t, "list")) return Kind::Array;
  return Kind::Any;
}

const char* describe(Kind k) {
  switch (k) {
    case Kind::String: return "a string";
    case Kind::Integer: return "an integer";
    case Kind::Number: return "a number";
    case Kind::Boolean: return "true or false";
    case Kind::Null: return "null";
    case Kind::Object: return "a JSON object";
    case Kind::Array: return "a JSON array";
    case Kind::Any: return "a value";
  }
  return "a value";
}

bool is_null_word(std::string_view s) {
  const std::string t = lower(trim(s));
  return t == "null" || t == "none";  // "None": the chat template renders Python's repr
}

std::optional<json> parse_integer(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  int64_t i = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
  if (ec == std::errc() && end == s.data() + s.size() && !s.empty()) return json(i);
  uint64_t u = 0;
  auto [uend, uec] = std::from_chars(s.data(), s.data() + s.size(), u);
  if (uec == std::errc() && uend == s.data() + s.size() && !s.empty()) return json(u);
  // "5.0" and "1e3" name integers too; "5.5" does not.
  double d = 0;
  auto [dend, dec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (dec == std::errc() && dend == s.data() + s.size() && std::isfinite(d) && d == std::floor(d) &&
      std::fabs(d) < 9.007199254740992e15)
    return json(static_cast<int64_t>(d));
  return std::nullopt;
}

std::optional<json> parse_number(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.find_first_of(".eE") == std::string_view::npos) {
    if (auto i = parse_integer(s)) return i;  // written as an integer: keep it one
  }
  double d = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty() || !std::isfinite(d)) return std::nullopt;
  return json(d);
}

// A Python literal (what repr() writes for a list or dict: single-quoted strings,
// True/False/None) rewritten as JSON text; nullopt when it holds anything else. Models see
// Python reprs in their training data and write them for list/dict parameters (vLLM
// accepts them too, through ast.literal_eval).
std::optional<std::string> python_literal_as_json(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const char c = s[i];
    if (c == '\'' || c == '"') {
      out += '"';
      for (++i; i < s.size() && s[i] != c; ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) {
          ++i;
          if (s[i] != '\'') out += '\\';  // \' is Python's escape only; the rest mean the same in JSON
          out += s[i];
        } else if (s[i] == '"') {
          out += "\\\"";
        } else {
          out += s[i];
        }
      }
      if (i == s.size()) return std::nullopt;  // unterminated string
      out += '"';
      ++i;
    } else if (std::isalpha(static_cast<unsigned char>(c))) {
      size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      const std::string_view word = s.substr(i, j - i);
      if (word == "True") out += "true";
      else if (word == "False") out += "false";
      else if (word == "None") out += "null";
      else return std::nullopt;
      i = j;
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}

// JSON text for an object/array parameter (or its Python literal form). A value that parses to a JSON string holding
// JSON (double-encoded by the model) is unwrapped once.
std::optional<json> parse_container(std::string_view s, Kind want, std::string& why) {
  json v = json::parse(s.begin(), s.end(), nullptr, false);
  if (v.is_discarded()) {
    if (auto as_json = python_literal_as_json(s)) v = json::parse(*as_json, nullptr, false);
  }
  if (v.is_discarded()) {
    why = "not valid JSON";
    return std::nullopt;
  }
  if (v.is_string()) {
    const std::string inner = v.get<std::string>();
    json unwrapped = json::parse(inner, nullptr, false);
    if (!unwrapped.is_discarded()) v = std::move(unwrapped);
  }
  if ((want == Kind::Object && !v.is_object()) || (want == Kind::Array && !v.is_array())) {
    why = std::string("JSON ") + v.type_name();
    return std::nullopt;
  }
  return v;
}

std::optional<json> convert_as(const std::string& raw, Kind kind, std::string& why) {
  const std::string_view t = trim(raw);
  switch (kind) {
    case Kind::String:
    case Kind::Any: return json(raw);
    case Kind::Integer: return parse_integer(t);
    case Kind::Number: return parse_number(t);
    case Kind::Boolean: {
      const std::string l = lower(t);
      if (l == "true") return json(true);
      if (l == "false") return json(false);
      return std::nullopt;
    }
    case Kind::Null: return is_null_word(t) ? std::optional<json>(json(nullptr)) : std::nullopt;
    case Kind::Object:
    case Kind::Array: return parse_container(t, kind, why);
  }
  return std::nullopt;
}

// The types a schema allows, in the order written: "type" (a name or a list), then each
// anyOf/oneOf option. Sets nullable when null is among them or "nullable": true.
void collect_kinds(const json& schema, std::vector<Kind>& kinds, bool& nullable, int depth = 0) {
  if (!schema.is_object() || depth > 8) return;
  auto add = [&](const json& name) {
    if (!name.is_string()) return;
    const Kind k = kind_of(name.get<std::string>());
    if (k == Kind::Null) nullable = true;
    else if (std::find(kinds.begin(), kinds.end(), k) == kinds.end()) kinds.push_back(k);
  };
  if (auto it = schema.find("type"); it != schema.end()) {
    if (it->is_array()) {
      for (const auto& n : *it) add(n);
    } else {
      add(*it);
    }
  }
  for (const char* key : {"anyOf", "oneOf"}) {
    if (auto it = schema.find(key); it != schema.end() && it->is_array()) {
      for (const auto& option : *it) collect_kinds(option, kinds, nullable, depth + 1);
    }
  }
  if (auto it = schema.find("nullable"); it != schema.end() && it->is_boolean() && it->get<bool>()) nullable = true;
}

}  // namespace

std::optional<json> convert_parameter(const std::string& raw, const json& schema, std::string& error) {
  std::vector<Kind> kinds;
  bool nullable = false;
  collect_kinds(schema, kinds, nullable);

  std::optional<json> value;
  std::string why;
  if (nullable && is_null_word(raw)) {
    value = json(nullptr);
  } else if (kinds.empty()) {
    if (nullable) {
      error = "must be null, got " + excerpt(raw);
      return std::nullopt;
    }
    value = json(raw);  // untyped: the text as written
  } else {
    for (Kind k : kinds) {
      if ((value = convert_as(raw, k, why))) break;
    }
  }
  if (!value) {
    error = "must be ";
    for (size_t i = 0; i < kinds.size(); ++i) {
      if (i) error += i + 1 == kinds.size() ? " or " : ", ";
      error += describe(kinds[i]);
    }
    if (nullable) error += " or null";
    error += ", got " + excerpt(trim(raw));
    if (!why.empty()) error += " (" + why + ")";
    return std::nullopt;
  }

  if (auto it = schema.find("enum"); schema.is_object() && it != schema.end() && it->is_array() && !value->is_null()) {
    if (std::find(it->begin(), it->end(), *value) == it->end()) {
      error = "must be one of " + it->dump() + ", got " + excerpt(raw);
      return std::nullopt;
    }
  }
  return value;
}

}  // namespace nagent
