#include "engine/chat_template_python.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include <unicode/uchar.h>

#include "engine/unicode.h"

namespace nagent::py {

using json = nlohmann::ordered_json;

std::string float_repr(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  // Shortest round-trip digits, then Python's layout: positional when the decimal exponent
  // lies in [-4, 16), else d.ddde±XX; positional always shows a fractional part.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  std::string sign;
  if (sci[0] == '-') { sign = "-"; sci.erase(0, 1); }
  size_t e = sci.find('e');
  std::string digits = sci.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  int exp10 = std::stoi(sci.substr(e + 1));
  int decpt = exp10 + 1;  // digits are 0.d1d2... x 10^decpt
  if (decpt <= -4 || decpt > 16) {
    std::string mantissa = digits.substr(0, 1);
    if (digits.size() > 1) mantissa += "." + digits.substr(1);
    char ebuf[16];
    std::snprintf(ebuf, sizeof ebuf, "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
    return sign + mantissa + ebuf;
  }
  if (decpt <= 0) return sign + "0." + std::string(-decpt, '0') + digits;
  if (static_cast<size_t>(decpt) < digits.size()) return sign + digits.substr(0, decpt) + "." + digits.substr(decpt);
  return sign + digits + std::string(decpt - digits.size(), '0') + ".0";
}

namespace {
std::string string_repr(const std::string& s) {
  const char quote = s.find('\'') != std::string::npos && s.find('"') == std::string::npos ? '"' : '\'';
  std::string out(1, quote);
  for (size_t i = 0; i < s.size();) {
    if (!unicode::valid_sequence_length(s, i)) {  // cannot come from JSON; keep it visible
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", static_cast<unsigned char>(s[i++]));
      out += b;
      continue;
    }
    size_t start = i;
    char32_t cp = unicode::next_code_point(s, i);
    if (cp == '\\' || cp == static_cast<char32_t>(quote)) { out += '\\'; out += static_cast<char>(cp); continue; }
    if (cp == '\n') { out += "\\n"; continue; }
    if (cp == '\r') { out += "\\r"; continue; }
    if (cp == '\t') { out += "\\t"; continue; }
    bool printable = cp >= 0x20 && cp != 0x7F;
    if (printable && cp >= 0x80) {
      // str.isprintable(): not in categories Cc, Cf, Cs, Co, Cn, Zl, Zp, Zs (space aside).
      switch (u_charType(static_cast<UChar32>(cp))) {
        case U_CONTROL_CHAR: case U_FORMAT_CHAR: case U_SURROGATE: case U_PRIVATE_USE_CHAR:
        case U_UNASSIGNED: case U_LINE_SEPARATOR: case U_PARAGRAPH_SEPARATOR: case U_SPACE_SEPARATOR:
          printable = false;
          break;
        default:
          break;
      }
    }
    if (printable) {
      out.append(s, start, i - start);
      continue;
    }
    char b[16];
    if (cp < 0x100) std::snprintf(b, sizeof b, "\\x%02x", static_cast<unsigned>(cp));
    else if (cp < 0x10000) std::snprintf(b, sizeof b, "\\u%04x", static_cast<unsigned>(cp));
    else std::snprintf(b, sizeof b, "\\U%08x", static_cast<unsigned>(cp));
    out += b;
  }
  out += quote;
  return out;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", c);
          out += b;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string number(const json& v) {
  if (v.is_number_float()) return float_repr(v.get<double>());
  return v.dump();  // integers print the same in Python and JSON
}
}  // namespace

std::string repr(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "None";
    case json::value_t::boolean: return v.get<bool>() ? "True" : "False";
    case json::value_t::string: return string_repr(v.get_ref<const std::string&>());
    case json::value_t::array: {
      std::string out = "[";
      for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + repr(v[i]);
      return out + "]";
    }
    case json::value_t::object: {
      std::string out = "{";
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        out += (first ? "" : ", ") + string_repr(it.key()) + ": " + repr(it.value());
        first = false;
      }
      return out + "}";
    }
    default: return number(v);
  }
}

std::string str(const json& v) { return v.is_string() ? v.get<std::string>() : repr(v); }

std::string json_dumps(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return v.get<bool>() ? "true" : "false";
    case json::value_t::string: return json_string(v.get_ref<const std::string&>());
    case json::value_t::array: {
      std::string out = "[";
      for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + json_dumps(v[i]);
      return out + "]";
    }
    case json::value_t::object: {
      std::string out = "{";
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        out += (first ? "" : ", ") + json_string(it.key()) + ": " + json_dumps(it.value());
        first = false;
      }
      return out + "}";
    }
    default: return number(v);
  }
}

namespace {
// str.isspace(): Unicode White_Space plus the separators U+001C..U+001F.
bool is_python_space(char32_t cp) { return (cp >= 0x1C && cp <= 0x1F) || unicode::is_whitespace(cp); }
}  // namespace

std::string strip(std::string_view s) {
  size_t begin = 0, end = s.size();
  while (begin < end) {
    size_t i = begin;
    if (!unicode::valid_sequence_length(s, i) || !is_python_space(unicode::next_code_point(s, i))) break;
    begin = i;
  }
  while (end > begin) {
    size_t start = end - 1;
    while (start > begin && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    size_t i = start;
    if (!unicode::valid_sequence_length(s, i) || !is_python_space(unicode::next_code_point(s, i))) break;
    end = start;
  }
  return std::string(s.substr(begin, end - begin));
}

}  // namespace nagent::py
