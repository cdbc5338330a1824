#include "engine/chat_template.h"

#include <algorithm>

#include <stdexcept>

#include "engine/chat_template_python.h"

namespace nagent {

namespace {

constexpr const char* kToolInstructions =
    "\n\nIf you choose to call a function ONLY reply in the following format with NO suffix:\n\n"
    "<tool_call>\n<function=example_function_name>\n<parameter=example_parameter_1>\nvalue_1\n</parameter>\n"
    "<parameter=example_parameter_2>\nThis is the value for the second parameter\nthat can span\nmultiple lines\n"
    "</parameter>\n</function>\n</tool_call>\n\n<IMPORTANT>\nReminder:\n"
    "- Function calls MUST follow the specified format: an inner <function=...></function> block must be nested "
    "within <tool_call></tool_call> XML tags\n"
    "- Required parameters MUST be specified\n"
    "- You may provide optional reasoning for your function call in natural language BEFORE the function call, "
    "but NOT after\n"
    "- If there is no function call available, answer the question like normal with your current knowledge and do "
    "not tell the user about function calls\n</IMPORTANT>";

bool is_list_or_map(const json& v) { return v.is_object() || v.is_array(); }

// "\n<KEY>VALUE</KEY>" for every key not handled explicitly: tojson for lists and maps, str()
// for the rest.
void render_extra_keys(std::string& out, const json& dict, std::initializer_list<const char*> handled) {
  if (!dict.is_object()) return;
  for (auto it = dict.begin(); it != dict.end(); ++it) {
    bool skip = false;
    for (const char* h : handled) skip = skip || it.key() == h;
    if (skip) continue;
    const std::string value = is_list_or_map(it.value()) ? py::json_dumps(it.value()) : py::str(it.value());
    out += "\n<" + it.key() + ">" + value + "</" + it.key() + ">";
  }
}

void render_tools(std::string& out, const json& tools) {
  out += "# Tools\n\nYou have access to the following functions:\n\n<tools>";
  for (const json& entry : tools) {
    const json& tool = entry.is_object() && entry.contains("function") ? entry["function"] : entry;
    out += "\n<function>\n<name>" + (tool.contains("name") ? py::str(tool["name"]) : "") + "</name>";
    if (tool.contains("description")) out += "\n<description>" + py::strip(py::str(tool["description"])) + "</description>";
    out += "\n<parameters>";
    const json* params = tool.contains("parameters") ? &tool["parameters"] : nullptr;
    if (params && params->is_object() && params->contains("properties") && (*params)["properties"].is_object()) {
      for (auto it = (*params)["properties"].begin(); it != (*params)["properties"].end(); ++it) {
        const json& fields = it.value();
        out += "\n<parameter>\n<name>" + it.key() + "</name>";
        if (fields.is_object()) {
          if (fields.contains("type")) out += "\n<type>" + py::str(fields["type"]) + "</type>";
          if (fields.contains("description"))
            out += "\n<description>" + py::strip(py::str(fields["description"])) + "</description>";
          if (fields.contains("enum")) out += "\n<enum>" + py::json_dumps(fields["enum"]) + "</enum>";
        }
        render_extra_keys(out, fields, {"name", "type", "description", "enum"});
        out += "\n</parameter>";
      }
    }
    if (params) render_extra_keys(out, *params, {"type", "properties", "required"});
    if (params && params->is_object() && params->contains("required"))
      out += "\n<required>" + py::json_dumps((*params)["required"]) + "</required>";
    out += "\n</parameters>";
    render_extra_keys(out, tool, {"type", "name", "description", "parameters"});
    out += "\n</function>";
  }
  out += "\n</tools>";
  out += kToolInstructions;
}

bool contains(const std::string& s, const char* needle) { return s.find(needle) != std::string::npos; }

// Python s.split(sep)[-1] and s.split(sep)[0].
std::string after_last(const std::string& s, const std::string& sep) {
  size_t p = s.rfind(sep);
  return p == std::string::npos ? s : s.substr(p + sep.size());
}
std::string before_first(const std::string& s, const std::string& sep) { return s.substr(0, s.find(sep)); }

void render_assistant(std::string& out, const Message& m, bool truncated) {
  std::string content;
  if (!py::strip(m.reasoning).empty()) {
    content = "<think>\n" + m.reasoning + "</think>" + m.content;
  } else {
    content = m.content;
    if (!contains(content, "<think>") && !contains(content, "</think>")) content = "<think></think>" + content;
  }
  if (!m.tool_calls.empty()) {
    out += "<|im_start|>assistant\n";
    if (!py::strip(content).empty()) {
      if (truncated) {
        std::string visible = contains(content, "</think>") ? after_last(content, "</think>")
                              : contains(content, "<think>") ? before_first(content, "<think>")
                                                              : content;
        out += "<think></think>" + py::strip(visible) + "\n";
      } else {
        out += py::strip(content) + "\n";
      }
    }
    for (const ToolCall& call : m.tool_calls) {
      if (!call.arguments.is_object())
        throw std::invalid_argument("tool call '" + call.name + "': arguments must be a JSON object, got " +
                                    call.arguments.dump());
      out += "<tool_call>\n<function=" + call.name + ">\n";
      for (auto it = call.arguments.begin(); it != call.arguments.end(); ++it) {
        out += "<parameter=" + it.key() + ">\n";
        out += is_list_or_map(it.value()) ? py::json_dumps(it.value()) : py::str(it.value());
        out += "\n</parameter>\n";
      }
      out += "</function>\n</tool_call>\n";
    }
    out += "<|im_end|>\n";
    return;
  }
  if (truncated && contains(content, "<think>") && contains(content, "</think>"))
    content = "<think></think>" + after_last(content, "</think>");
  out += "<|im_start|>assistant\n" + py::strip(content) + "<|im_end|>\n";
}

}  // namespace

ChatTemplateOptions ChatTemplateOptions::from_request(const ChatRequest& request, bool add_generation_prompt) {
  ChatTemplateOptions o;
  o.add_generation_prompt = add_generation_prompt;
  o.enable_thinking = request.enable_thinking;
  const json& kw = request.extra_template_kwargs;
  auto flag = [&](const char* key, bool& target) {
    if (!kw.is_object() || !kw.contains(key)) return;
    if (!kw[key].is_boolean()) throw std::invalid_argument(std::string("chat template kwarg '") + key + "' must be true or false");
    target = kw[key].get<bool>();
  };
  flag("enable_thinking", o.enable_thinking);
  flag("truncate_history_thinking", o.truncate_history_thinking);
  flag("low_effort", o.low_effort);
  return o;
}

long nemotron3_last_user(const std::vector<Message>& messages) {
  const size_t first = !messages.empty() && messages[0].role == "system" ? 1 : 0;
  long last_user = -1;
  for (size_t i = first; i < messages.size(); ++i)
    if (messages[i].role == "user") last_user = static_cast<long>(i - first);
  return last_user;
}

void render_nemotron3_header(std::string& out, const std::vector<Message>& messages, const json& tools) {
  const std::string system_message = !messages.empty() && messages[0].role == "system" ? messages[0].content : "";
  out += "<|im_start|>system\n" + system_message;
  if (tools.is_array() && !tools.empty()) {
    if (!system_message.empty()) out += "\n\n";
    render_tools(out, tools);
  }
  out += "<|im_end|>\n";
}

void render_nemotron3_messages(std::string& out, const std::vector<Message>& messages, size_t from, size_t to,
                               long last_user, const ChatTemplateOptions& options) {
  const size_t first = !messages.empty() && messages[0].role == "system" ? 1 : 0;
  for (size_t i = std::max(from, first); i < to; ++i) {
    const Message& m = messages[i];
    const long index = static_cast<long>(i - first);
    if (m.role == "assistant") {
      render_assistant(out, m, options.truncate_history_thinking && index < last_user);
    } else if (m.role == "tool") {
      // Consecutive tool results share one user turn (none opens for a leading tool result,
      // as in the template, which only looks at a previous message).
      if (i > first && messages[i - 1].role != "tool") out += "<|im_start|>user\n";
      out += "<tool_response>\n" + m.content + "\n</tool_response>\n";
      if (i + 1 == messages.size() || messages[i + 1].role != "tool") out += "<|im_end|>\n";
    } else if (m.role == "user" && options.low_effort && index == last_user) {
      out += "<|im_start|>user\n" + m.content + "\n\n{reasoning effort: low}<|im_end|>\n";
    } else {
      out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
    }
  }
}

void render_nemotron3_generation_prompt(std::string& out, const ChatTemplateOptions& options) {
  if (options.add_generation_prompt)
    out += options.enable_thinking ? "<|im_start|>assistant\n<think>\n" : "<|im_start|>assistant\n<think></think>";
}

std::string render_nemotron3_prompt(const std::vector<Message>& messages, const json& tools,
                                    const ChatTemplateOptions& options) {
  std::string out;
  render_nemotron3_header(out, messages, tools);
  render_nemotron3_messages(out, messages, 0, messages.size(), nemotron3_last_user(messages), options);
  render_nemotron3_generation_prompt(out, options);
  return out;
}

std::string render_nemotron3_prompt(const ChatRequest& request, bool add_generation_prompt) {
  return render_nemotron3_prompt(request.messages, request.tools,
                                 ChatTemplateOptions::from_request(request, add_generation_prompt));
}

}  // namespace nagent
