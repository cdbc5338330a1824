// Qwen3CoderParser: one forward pass over the reply, a state machine with bounded
// look-ahead. Every decision depends only on the text (never on where a chunk ended):
// when the bytes at hand are a proper prefix of a tag, the scanner stops and waits for the
// next chunk, keeping at most that prefix; the rest of the chunk is consumed.
//
// Grammar, and how each deviation seen in the wild is handled:
//   reply     := (text | <think> reasoning </think> | call)*
//   call      := <tool_call> ws function+ ws </tool_call>  |  function   (bare: vLLM back-off)
//   function  := <function=NAME> ws (param ws)* </function>
//   param     := <parameter=NAME> VALUE </parameter>
// - Reasoning ends at </think> or at <tool_call> (Nemotron Super sometimes omits </think>).
//   Reasoning left open at the end, with no content and no call, becomes content.
// - A close tag inside VALUE is structural only if, after whitespace, it is followed by a
//   tag that continues the call (or the end of the reply):
//     </parameter>  before <parameter=, </function>, </tool_call> or the end;
//     </function>   before </tool_call>, <tool_call>, <function= or the end  (no </parameter>);
//     </tool_call>  before <tool_call>, <function= or the end               (neither);
//   otherwise it is text of the value (a file that contains these tags stays intact).
//   Unlike vLLM, any <parameter=NAME> after </parameter> counts, known to the schema or
//   not: a misspelt parameter is then reported to the model instead of being swallowed
//   into the previous value.
//   A <parameter=KNOWN> at the start of a line also ends a value that lacks </parameter>.
//   The format has no escaping, so a value that itself holds "</parameter>\n</function>"
//   (say, a test file of this parser) is cut there, as in every qwen3_coder parser.
// - A bare <function= (no <tool_call>) opens a call only at the start of a line or of a
//   piece of content, so prose that mentions the syntax stays prose.
// - After </function> a missing </tool_call> is tolerated: the call is complete.
// - Anything else inside a call (text between tags, a name without '>', the reply ending
//   inside a call) becomes ParsedCall::error; parsing carries on with the next tag.
#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <unordered_map>

#include "agent/qwen3_coder_parser.h"

namespace nagent {
namespace {

constexpr std::string_view kThinkOpen = "<think>";
constexpr std::string_view kThinkClose = "</think>";
constexpr std::string_view kCallOpen = "<tool_call>";
constexpr std::string_view kCallClose = "</tool_call>";
constexpr std::string_view kFuncOpen = "<function=";
constexpr std::string_view kFuncClose = "</function>";
constexpr std::string_view kParamOpen = "<parameter=";
constexpr std::string_view kParamClose = "</parameter>";

constexpr size_t kMaxNameLength = 128;
constexpr size_t kMaxGarbageQuoted = 80;

constexpr std::string_view kFormatHint =
    " Write each call as:\n<tool_call>\n<function=NAME>\n<parameter=NAME>\nVALUE\n</parameter>\n</function>\n"
    "</tool_call>";

bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

// vLLM's rule: names never hold braces, angle brackets, quotes or whitespace.
bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    return is_ws(c) || c == '{' || c == '}' || c == '<' || c == '>' || c == '"' || c == '\'';
  });
}

std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string quote(std::string_view s) {
  std::string out = "'";
  for (char c : s.substr(0, kMaxGarbageQuoted)) {
    if (c == '\n') out += "\\n";
    else out += c;
  }
  if (s.size() > kMaxGarbageQuoted) out += "...";
  return out + "'";
}

// {"type": "string"} with no enum: the value is the text as written (spares a copy).
bool is_plain_string(const json& schema) {
  if (!schema.is_object() || schema.contains("enum")) return false;
  auto it = schema.find("type");
  return it != schema.end() && it->is_string() && it->get_ref<const std::string&>() == "string";
}

// What the tool list says about one tool.
struct ToolInfo {
  std::string name;
  const json* properties = nullptr;  // null: the schema names no properties (accept any)
  std::vector<std::string> required;
  bool additional_allowed = false;   // "additionalProperties": true / a schema

  const json* property(const std::string& p) const {
    if (!properties) return nullptr;
    auto it = properties->find(p);
    return it == properties->end() ? nullptr : &*it;
  }
  bool accepts_any_name() const { return !properties || additional_allowed; }

  std::string parameter_list() const {
    std::string out;
    if (!properties) return out;
    for (auto it = properties->begin(); it != properties->end(); ++it) {
      if (!out.empty()) out += ", ";
      out += it.key();
      if (std::find(required.begin(), required.end(), it.key()) != required.end()) out += " (required)";
    }
    return out;
  }
};

std::vector<ToolInfo> read_tools(const json& tools) {
  std::vector<ToolInfo> out;
  if (!tools.is_array()) return out;
  for (const auto& entry : tools) {
    if (!entry.is_object()) continue;
    auto fn_it = entry.find("function");
    const json& fn = (fn_it != entry.end() && fn_it->is_object()) ? *fn_it : entry;
    auto name_it = fn.find("name");
    if (name_it == fn.end() || !name_it->is_string()) continue;
    ToolInfo info;
    info.name = name_it->get<std::string>();
    auto params_it = fn.find("parameters");
    if (params_it != fn.end() && params_it->is_object()) {
      const json& params = *params_it;
      if (auto p = params.find("properties"); p != params.end() && p->is_object()) info.properties = &*p;
      if (auto r = params.find("required"); r != params.end() && r->is_array()) {
        for (const auto& name : *r)
          if (name.is_string()) info.required.push_back(name.get<std::string>());
      }
      if (auto a = params.find("additionalProperties"); a != params.end())
        info.additional_allowed = a->is_object() || (a->is_boolean() && a->get<bool>());
    }
    out.push_back(std::move(info));
  }
  return out;
}

// Accumulates reasoning or content: trims whitespace at the edges of each piece and joins
// pieces with a blank line, emitting only text that can no longer change.
class Channel {
 public:
  Channel(std::string& out, ParserEvent::Kind kind) : out_(out), kind_(kind) {}

  // events: where the emitted text is reported (null: nobody listens).
  void write(std::string_view text, std::vector<ParserEvent>* events) {
    if (!in_piece_) {
      size_t i = 0;
      while (i < text.size() && is_ws(text[i])) ++i;
      if (i == text.size()) return;
      text.remove_prefix(i);
      in_piece_ = true;
      if (!out_.empty()) emit("\n\n", events);
    }
    size_t end = text.size();
    while (end > 0 && is_ws(text[end - 1])) --end;
    if (end == 0) {
      held_ws_.append(text);
      return;
    }
    if (!held_ws_.empty()) {
      emit(held_ws_, events);
      held_ws_.clear();
    }
    emit(text.substr(0, end), events);
    held_ws_.assign(text.substr(end));
  }

  bool in_piece() const { return in_piece_; }

  void end_piece() {
    held_ws_.clear();
    in_piece_ = false;
  }

 private:
  void emit(std::string_view s, std::vector<ParserEvent>* events) {
    out_.append(s);
    if (!events) return;
    if (!events->empty() && events->back().kind == kind_) events->back().text.append(s);
    else events->push_back({kind_, std::string(s), 0});
  }

  std::string& out_;
  ParserEvent::Kind kind_;
  bool in_piece_ = false;
  std::string held_ws_;
};

}  // namespace

struct Qwen3CoderParser::Impl {
  enum class State { Content, Reasoning, CallOpen, FuncName, FuncBody, ParamName, Value, ValuePending, FuncDone };
  // Which close tag a pending candidate is: decides what must follow it.
  enum class Close { Param, Func, Call };

  struct Param {
    std::string name;
    std::string value;
    bool name_ok = true;
  };

  ParserOptions options;
  std::vector<ToolInfo> tools;
  std::unordered_map<std::string, size_t> tool_index;

  ParsedReply reply;
  Channel content{reply.content, ParserEvent::Content};
  Channel reasoning{reply.reasoning, ParserEvent::Reasoning};
  std::vector<ParserEvent> events;

  // The input being scanned: the chunk itself, or held + chunk when a tag prefix was held
  // back (so whole-text parsing never copies its input).
  std::string_view in;
  size_t pos = 0;
  std::string held;  // the undecided tail of the previous chunks (at most a tag prefix)
  char before_in = '\n';  // the input byte just before `in` ('\n' at the start of the reply)
  bool emit_events = true;
  bool eof = false;
  bool finished = false;
  State state = State::Content;

  // The call being read.
  ParsedCall call;
  const ToolInfo* tool = nullptr;
  size_t raw_mark = 0;    // offset in `in` from which the call's raw text is not yet copied
  size_t value_mark = 0;  // offset in `in` from which the value's text is not yet copied
  std::vector<Param> params;
  std::vector<std::string> errors;
  bool structural_error = false;
  std::string name;      // function or parameter name being read
  std::string garbage;   // stray text inside the call (first kMaxGarbageQuoted+1 bytes)
  bool has_garbage = false;
  std::string pending;   // a candidate close tag and the whitespace after it
  Close pending_close = Close::Param;

  explicit Impl(ParserOptions o) : options(std::move(o)), tools(read_tools(options.tools)) {
    for (size_t i = 0; i < tools.size(); ++i) tool_index.emplace(tools[i].name, i);
    if (options.starts_in_reasoning) state = State::Reasoning;
  }

  // --- input window ---------------------------------------------------------------------

  std::string_view rest() const { return in.substr(pos); }

  static constexpr int kNone = -1;
  static constexpr int kNeedMore = -2;
  // Index of the tag the input at pos starts with; kNeedMore when the input is a proper
  // prefix of one of them and more may come.
  int match(std::initializer_list<std::string_view> tags) const {
    const std::string_view s = rest();
    bool partial = false;
    int i = 0;
    for (std::string_view t : tags) {
      if (s.size() >= t.size()) {
        // Every tag starts with '<'; comparing two more bytes first skips most memcmp calls.
        if (s[1] == t[1] && s[2] == t[2] && s.compare(0, t.size(), t) == 0) return i;
      } else if (!eof && t.compare(0, s.size(), s) == 0) {
        partial = true;
      }
      ++i;
    }
    return partial ? kNeedMore : kNone;
  }

  // Skips whitespace; false when the window is exhausted.
  bool skip_ws() {
    while (pos < in.size() && is_ws(in[pos])) ++pos;
    return pos < in.size();
  }

  std::vector<ParserEvent>* sink() { return emit_events ? &events : nullptr; }

  bool in_call() const { return state != State::Content && state != State::Reasoning; }

  // --- driver ---------------------------------------------------------------------------

  void run() {
    while (step()) {
    }
  }

  // One transition; false when nothing more can be decided with the input at hand.
  bool step() {
    switch (state) {
      case State::Content:
      case State::Reasoning: return step_text();
      case State::CallOpen: return step_call_open();
      case State::FuncName: return step_name(true);
      case State::FuncBody: return step_func_body();
      case State::ParamName: return step_name(false);
      case State::Value: return step_value();
      case State::ValuePending: return step_value_pending();
      case State::FuncDone: return step_func_done();
    }
    return false;
  }

  void feed(std::string_view chunk) {
    if (held.empty()) {
      in = chunk;
    } else {
      held.append(chunk);
      in = held;
    }
    pos = 0;
    run();
    if (state == State::Value) flush_value();
    value_mark = 0;
    if (in_call()) {
      call.raw.append(in.substr(raw_mark, pos - raw_mark));
      raw_mark = 0;
    }
    if (pos > 0) before_in = in[pos - 1];
    const std::string_view undecided = in.substr(pos);
    if (in.data() == held.data()) held.erase(0, pos);
    else held.assign(undecided);
    in = {};
    pos = 0;
  }

  // --- reasoning and content -----------------------------------------------------------

  bool step_text() {
    const bool in_reasoning = state == State::Reasoning;
    Channel& channel = in_reasoning ? reasoning : content;
    if (pos == in.size()) return false;
    const size_t lt = find_tag_start(pos, in_reasoning ? '/' : 'f', 't');
    if (lt > pos) {
      channel.write(in.substr(pos, lt - pos), sink());
      pos = lt;
    }
    if (pos == in.size()) return false;
    const int m = in_reasoning ? match({kThinkClose, kCallOpen}) : match({kThinkOpen, kCallOpen, kFuncOpen});
    if (m == kNeedMore) return false;
    if (m == kNone || (m == 2 && !bare_call_allowed())) {
      channel.write("<", sink());
      ++pos;
      return true;
    }
    channel.end_piece();
    const std::string_view tag = in_reasoning ? (m == 0 ? kThinkClose : kCallOpen)
                                              : (m == 0 ? kThinkOpen : m == 1 ? kCallOpen : kFuncOpen);
    if (tag == kThinkOpen) {
      state = State::Reasoning;
    } else if (tag == kThinkClose) {
      state = State::Content;
    } else {
      begin_call();
      state = tag == kCallOpen ? State::CallOpen : State::FuncName;
    }
    pos += tag.size();
    return true;
  }

  // A <function= without <tool_call> is a call only where a call can start: at the start of
  // a line or of a piece of content, not in the middle of prose that mentions the syntax.
  bool bare_call_allowed() const {
    const char before = pos > 0 ? in[pos - 1] : before_in;
    return before == '\n' || !content.in_piece();
  }

  // --- inside a call --------------------------------------------------------------------

  void begin_call() {
    call = ParsedCall{};
    tool = nullptr;
    raw_mark = pos;
    params.clear();
    errors.clear();
    structural_error = false;
    name.clear();
    clear_garbage();
  }

  void structural(std::string message) {
    errors.push_back(std::move(message));
    structural_error = true;
  }

  // Stray text inside a call: remembered up to the next tag, reported when that tag comes.
  void take_garbage(size_t n) {
    if (garbage.size() <= kMaxGarbageQuoted) garbage.append(in.substr(pos, std::min(n, kMaxGarbageQuoted + 1 - garbage.size())));
    has_garbage = true;
    pos += n;
  }
  void clear_garbage() {
    garbage.clear();
    has_garbage = false;
  }
  void report_garbage(std::string_view where) {
    if (!has_garbage) return;
    std::string_view g = garbage;
    while (!g.empty() && is_ws(g.back())) g.remove_suffix(1);
    structural("unexpected text " + quote(g) + " " + std::string(where));
    clear_garbage();
  }

  // Whitespace, then a tag from `tags` (its index), or stray text up to the next '<'.
  // Returns kNeedMore when waiting for input, kNone after consuming some stray text.
  int next_tag(std::initializer_list<std::string_view> tags) {
    if (!has_garbage && !skip_ws()) return kNeedMore;
    const std::string_view s = rest();
    if (s.empty()) return kNeedMore;
    if (s[0] == '<') {
      const int m = match(tags);
      if (m != kNone) return m;
      take_garbage(1);
      return kNone;
    }
    const size_t lt = s.find('<');
    take_garbage(lt == std::string_view::npos ? s.size() : lt);
    return kNone;
  }

  bool step_call_open() {
    const int m = next_tag({kFuncOpen, kCallClose});
    if (m == kNeedMore) return false;
    if (m == kNone) return true;
    report_garbage("after <tool_call> (expected <function=NAME>)");
    if (m == 0) {
      pos += kFuncOpen.size();
      state = State::FuncName;
    } else {
      if (errors.empty()) structural("empty <tool_call>: no <function=NAME> inside");
      pos += kCallClose.size();
      complete_call();
    }
    return true;
  }

  // Reads a function (is_function) or parameter name up to '>'.
  bool step_name(bool is_function) {
    const std::string_view s = rest();
    size_t i = 0;
    while (i < s.size() && s[i] != '>' && s[i] != '\n' && s[i] != '<' && name.size() + i <= kMaxNameLength) ++i;
    name.append(s.substr(0, i));
    pos += i;
    if (i == s.size()) return false;
    const char* tag = is_function ? "<function=" : "<parameter=";
    if (s[i] == '>') {
      ++pos;
    } else {
      structural(std::string("missing '>' after ") + tag + std::string(trim_blanks(name)));
    }
    const std::string written(trim_blanks(name));
    name.clear();
    if (is_function) begin_function(written);
    else begin_param(written);
    return true;
  }

  void begin_function(const std::string& written) {
    resolve_function(written);
    if (emit_events) events.push_back({ParserEvent::CallBegin, call.name, reply.calls.size()});
  }

  // Names the call (aliases resolved) and finds its tool, noting what is wrong.
  void resolve_function(const std::string& written) {
    state = State::FuncBody;
    if (written.empty()) {
      structural("<function=> has no function name");
      return;
    }
    if (!valid_name(written)) {
      structural("invalid function name " + quote(written) + " (no spaces, quotes or brackets)");
      call.name = written;
      return;
    }
    call.name = written;
    if (tools.empty()) return;
    auto it = tool_index.find(written);
    if (it == tool_index.end()) {
      if (auto alias = options.aliases.find(written); alias != options.aliases.end()) {
        call.name = alias->second;
        it = tool_index.find(alias->second);
      }
    }
    if (it != tool_index.end()) {
      tool = &tools[it->second];
      return;
    }
    std::string message = "unknown tool " + quote(written) + "; available tools: ";
    for (size_t i = 0; i < tools.size(); ++i) message += (i ? ", " : "") + tools[i].name;
    errors.push_back(std::move(message));
  }

  void begin_param(const std::string& written) {
    state = State::Value;
    value_mark = pos;
    Param p;
    p.name = written;
    if (written.empty()) {
      structural("<parameter=> has no parameter name");
      p.name_ok = false;
    } else if (!valid_name(written)) {
      structural("invalid parameter name " + quote(written) + " (no spaces, quotes or brackets)");
      p.name_ok = false;
    }
    params.push_back(std::move(p));
  }

  bool step_func_body() {
    const int m = next_tag({kParamOpen, kFuncClose, kCallClose});
    if (m == kNeedMore) return false;
    if (m == kNone) return true;
    report_garbage("between parameters of <function=" + call.name + ">");
    if (m == 0) {
      pos += kParamOpen.size();
      state = State::ParamName;
    } else if (m == 1) {
      pos += kFuncClose.size();
      state = State::FuncDone;
    } else {
      pos += kCallClose.size();  // </function> left out: the call is still unambiguous
      complete_call();
    }
    return true;
  }

  // Offset of the next '<' at or after `from` whose next byte is `a` or `b` (or that ends
  // the input, so the byte is not known yet); in.size() when there is none.
  size_t find_tag_start(size_t from, char a, char b) const {
    const char* base = in.data();
    const size_t n = in.size();
    while (from < n) {
      const void* lt = std::memchr(base + from, '<', n - from);
      if (!lt) return n;
      from = static_cast<const char*>(lt) - base;
      if (from + 1 == n || base[from + 1] == a || base[from + 1] == b) return from;
      ++from;
    }
    return n;
  }

  // Value text is not copied as it is scanned: it is the input from value_mark to pos,
  // appended in one piece when the value or the chunk ends.
  void flush_value() {
    params.back().value.append(in.substr(value_mark, pos - value_mark));
    value_mark = pos;
  }

  // The hot loop: only "</..." and "<parameter=" can end a value.
  bool step_value() {
    pos = find_tag_start(pos, '/', 'p');
    if (pos == in.size()) return false;
    const int m = match({kParamClose, kFuncClose, kCallClose, kParamOpen});
    if (m == kNeedMore) return false;
    if (m >= 0 && m <= 2) {
      flush_value();
      const std::string_view tag = m == 0 ? kParamClose : m == 1 ? kFuncClose : kCallClose;
      pending_close = m == 0 ? Close::Param : m == 1 ? Close::Func : Close::Call;
      pending.assign(tag);
      pos += tag.size();
      state = State::ValuePending;
      return true;
    }
    if (m == 3 && at_line_start()) {
      const int implicit = implicit_param_close();
      if (implicit == kNeedMore) return false;
      if (implicit == 1) {
        flush_value();
        close_param();
        state = State::FuncBody;
        return true;
      }
    }
    ++pos;  // the '<' is value text
    return true;
  }

  // Whether pos starts a line of the value (or the value is empty so far).
  bool at_line_start() const {
    const std::string& value = params.back().value;
    if (pos > value_mark) return in[pos - 1] == '\n';
    return value.empty() || value.back() == '\n';
  }

  // At "<parameter=" on a new line inside a value: 1 if it opens a parameter the tool has
  // (the previous value lacks </parameter>), 0 if it is value text, kNeedMore to wait.
  int implicit_param_close() const {
    const std::string_view s = rest().substr(kParamOpen.size());
    const size_t gt = s.substr(0, kMaxNameLength + 1).find('>');
    if (gt == std::string_view::npos)
      return (!eof && s.size() <= kMaxNameLength && (s.empty() || valid_name(s))) ? kNeedMore : 0;
    const std::string candidate(s.substr(0, gt));
    if (!valid_name(candidate)) return 0;
    if (!tool || tool->accepts_any_name()) return 1;
    return tool->property(candidate) ? 1 : 0;
  }

  // After a candidate close tag: whitespace, then the tag that decides whether it was one.
  bool step_value_pending() {
    const size_t start = pos;
    skip_ws();
    pending.append(in.substr(start, pos - start));
    if (pos == in.size()) {
      if (!eof) return false;
      confirm_close();
      return true;
    }
    int m = kNone;
    if (in[pos] == '<') {
      switch (pending_close) {
        case Close::Param: m = match({kParamOpen, kFuncClose, kCallClose}); break;
        case Close::Func: m = match({kCallClose, kCallOpen, kFuncOpen}); break;
        case Close::Call: m = match({kCallOpen, kFuncOpen}); break;
      }
    }
    if (m == kNeedMore) return false;
    if (m == kNone) {
      params.back().value.append(pending);  // a literal tag in the value
      pending.clear();
      value_mark = pos;
      state = State::Value;
      return true;
    }
    confirm_close();
    return true;
  }

  void confirm_close() {
    pending.clear();
    close_param();
    switch (pending_close) {
      case Close::Param: state = State::FuncBody; break;
      case Close::Func: state = State::FuncDone; break;
      case Close::Call: complete_call(); break;
    }
  }

  void close_param() {
    std::string& v = params.back().value;
    if (!v.empty() && v.back() == '\n') v.pop_back();
    if (!v.empty() && v.front() == '\n') v.erase(0, 1);
  }

  bool step_func_done() {
    if (!skip_ws()) {
      if (!eof) return false;
      complete_call();
      return true;
    }
    const int m = in[pos] == '<' ? match({kCallClose}) : kNone;
    if (m == kNeedMore) return false;
    if (m == 0) pos += kCallClose.size();
    complete_call();  // a missing </tool_call> after </function> is harmless
    return true;
  }

  // --- finishing a call -----------------------------------------------------------------

  void complete_call() {
    call.raw.append(in.substr(raw_mark, pos - raw_mark));
    build_arguments();
    if (!errors.empty()) {
      std::string message = call.name.empty() ? "malformed tool call: " : "tool call '" + call.name + "': ";
      for (size_t i = 0; i < errors.size(); ++i) message += (i ? "; " : "") + errors[i];
      message += '.';
      if (structural_error) message += kFormatHint;
      call.error = std::move(message);
    }
    reply.calls.push_back(std::move(call));
    call = ParsedCall{};
    if (emit_events) events.push_back({ParserEvent::CallComplete, {}, reply.calls.size() - 1});
    state = State::Content;
  }

  void build_arguments() {
    std::vector<std::string> unknown;
    for (Param& p : params) {
      if (!p.name_ok) continue;
      if (call.arguments.contains(p.name)) {
        errors.push_back("parameter '" + p.name + "' is given more than once");
        continue;
      }
      const json* schema = tool ? tool->property(p.name) : nullptr;
      if (tool && !schema && !tool->accepts_any_name()) {
        unknown.push_back(p.name);
        continue;
      }
      if (!schema || is_plain_string(*schema)) {
        call.arguments[p.name] = std::move(p.value);
        continue;
      }
      std::string why;
      if (auto v = convert_parameter(p.value, *schema, why)) {
        call.arguments[p.name] = std::move(*v);
      } else {
        errors.push_back("parameter '" + p.name + "' of " + call.name + " " + why);
        call.arguments[p.name] = std::move(p.value);
      }
    }
    if (!unknown.empty()) {
      std::string message = unknown.size() == 1 ? "unknown parameter " : "unknown parameters ";
      for (size_t i = 0; i < unknown.size(); ++i) message += (i ? ", '" : "'") + unknown[i] + "'";
      const std::string list = tool->parameter_list();
      errors.push_back(message + " (" + call.name + (list.empty() ? " takes no parameters)" : " takes: " + list + ")"));
    }
    if (!tool) return;
    for (const std::string& r : tool->required) {
      if (!call.arguments.contains(r) && std::find(unknown.begin(), unknown.end(), r) == unknown.end())
        errors.push_back("missing required parameter '" + r + "'");
    }
  }

  // The reply ended inside a call: say where, so the model can tell a cut-off reply.
  void end_inside_call() {
    switch (state) {
      case State::CallOpen:
        report_garbage("after <tool_call> (expected <function=NAME>)");
        if (errors.empty()) structural("the reply ended right after <tool_call>");
        break;
      case State::FuncName:
      case State::ParamName: {
        const bool fn = state == State::FuncName;
        structural(std::string("the reply ended inside ") + (fn ? "<function=" : "<parameter=") + name +
                   " (cut off, or the name was not closed with '>')");
        const std::string written(trim_blanks(name));
        name.clear();
        if (fn) begin_function(written);
        else begin_param(written);
        break;
      }
      case State::Value:
        flush_value();
        close_param();
        structural("the reply ended inside the value of parameter '" + params.back().name +
                   "' (cut off, or the value was not closed with </parameter>)");
        break;
      case State::FuncBody:
        report_garbage("between parameters of <function=" + call.name + ">");
        structural("the reply ended before </function> (cut off, or the call was not closed)");
        break;
      default: break;
    }
    complete_call();
  }

  ParsedReply finish() {
    if (finished) return {};
    finished = true;
    eof = true;
    in = held;
    pos = 0;
    run();
    const bool ended_in_reasoning = state == State::Reasoning;
    if (in_call()) end_inside_call();
    if (ended_in_reasoning && reply.content.empty() && reply.calls.empty()) {
      std::swap(reply.content, reply.reasoning);
      if (emit_events && !reply.content.empty()) events.push_back({ParserEvent::Content, reply.content, 0});
    }
    return std::move(reply);
  }
};

Qwen3CoderParser::Qwen3CoderParser(ParserOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Qwen3CoderParser::~Qwen3CoderParser() = default;
Qwen3CoderParser::Qwen3CoderParser(Qwen3CoderParser&&) noexcept = default;
Qwen3CoderParser& Qwen3CoderParser::operator=(Qwen3CoderParser&&) noexcept = default;

std::vector<ParserEvent> Qwen3CoderParser::feed(std::string_view chunk) {
  Impl& p = *impl_;
  if (p.finished) return {};
  p.feed(chunk);
  std::vector<ParserEvent> out;
  out.swap(p.events);
  return out;
}

ParsedReply Qwen3CoderParser::finish(std::vector<ParserEvent>* last_events) {
  ParsedReply reply = impl_->finish();
  if (last_events) last_events->swap(impl_->events);
  return reply;
}

const std::vector<ParsedCall>& Qwen3CoderParser::calls() const { return impl_->reply.calls; }

ParsedReply Qwen3CoderParser::parse(std::string_view text, const ParserOptions& options) {
  Qwen3CoderParser parser(options);
  parser.impl_->emit_events = false;  // nobody listens: skip building the events
  parser.feed(text);
  return parser.finish();
}

}  // namespace nagent
