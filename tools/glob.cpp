#include "tools/glob.h"

#include <string>
#include <vector>

namespace nagent {

namespace {

// "a{b,c}d{e,f}" -> abde, abdf, acde, acdf (nested braces expand too).
void expand_braces(const std::string& p, std::vector<std::string>& out) {
  size_t open = p.find('{');
  if (open == std::string::npos) {
    out.push_back(p);
    return;
  }
  int depth = 0;
  std::vector<size_t> commas;
  size_t close = std::string::npos;
  for (size_t i = open; i < p.size() && close == std::string::npos; ++i) {
    if (p[i] == '{') ++depth;
    if (p[i] == '}' && --depth == 0) close = i;
    if (p[i] == ',' && depth == 1) commas.push_back(i);
  }
  if (close == std::string::npos) {  // unbalanced: literal
    out.push_back(p);
    return;
  }
  size_t start = open + 1;
  commas.push_back(close);
  for (size_t c : commas) {
    expand_braces(p.substr(0, open) + p.substr(start, c - start) + p.substr(close + 1), out);
    start = c + 1;
  }
}

// [...] at p[0]; sets len to the class's length in the pattern.
bool class_match(std::string_view p, char c, size_t& len) {
  size_t i = 1;
  bool negate = i < p.size() && (p[i] == '!' || p[i] == '^');
  if (negate) ++i;
  bool hit = false;
  size_t first = i;
  for (; i < p.size() && (p[i] != ']' || i == first); ++i) {
    if (i + 2 < p.size() && p[i + 1] == '-' && p[i + 2] != ']') {
      hit = hit || (p[i] <= c && c <= p[i + 2]);
      i += 2;
    } else {
      hit = hit || p[i] == c;
    }
  }
  if (i >= p.size()) {  // no closing ']': a literal '['
    len = 1;
    return c == '[';
  }
  len = i + 1;
  return hit != negate;
}

bool match(std::string_view p, std::string_view s) {
  while (!p.empty()) {
    if (p.substr(0, 2) == "**") {
      std::string_view rest = p.substr(2);
      if (rest.empty()) return true;
      if (rest[0] == '/') {
        // "**/x": x here, or after any '/'.
        rest.remove_prefix(1);
        if (match(rest, s)) return true;
        for (size_t i = 0; i < s.size(); ++i) {
          if (s[i] == '/' && match(rest, s.substr(i + 1))) return true;
        }
        return false;
      }
      for (size_t i = 0; i <= s.size(); ++i) {
        if (match(rest, s.substr(i))) return true;
      }
      return false;
    }
    if (p[0] == '*') {
      std::string_view rest = p.substr(1);
      for (size_t i = 0; i <= s.size(); ++i) {
        if (match(rest, s.substr(i))) return true;
        if (i < s.size() && s[i] == '/') break;
      }
      return false;
    }
    if (s.empty()) return false;
    if (p[0] == '?') {
      if (s[0] == '/') return false;
      p.remove_prefix(1);
    } else if (p[0] == '[') {
      size_t len = 0;
      if (s[0] == '/' || !class_match(p, s[0], len)) return false;
      p.remove_prefix(len);
    } else {
      if (p[0] != s[0]) return false;
      p.remove_prefix(1);
    }
    s.remove_prefix(1);
  }
  return s.empty();
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view relative_path) {
  std::vector<std::string> alternatives;
  expand_braces(std::string(pattern), alternatives);
  for (const auto& alt : alternatives) {
    std::string_view subject = relative_path;
    if (alt.find('/') == std::string::npos) {
      size_t slash = subject.rfind('/');
      if (slash != std::string_view::npos) subject = subject.substr(slash + 1);
    } else if (alt.rfind("./", 0) == 0) {
      if (match(std::string_view(alt).substr(2), subject)) return true;
      continue;
    }
    if (match(alt, subject)) return true;
  }
  return false;
}

}  // namespace nagent
