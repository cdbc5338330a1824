// Test helper: a tool call written the way a Nemotron 3 model writes it (qwen3_coder format).
#pragma once

#include <string>
#include <utility>
#include <vector>

inline std::string text_call(const std::string& name,
                             const std::vector<std::pair<std::string, std::string>>& params) {
  std::string s = "<tool_call>\n<function=" + name + ">\n";
  for (const auto& [k, v] : params) s += "<parameter=" + k + ">\n" + v + "\n</parameter>\n";
  return s + "</function>\n</tool_call>";
}
