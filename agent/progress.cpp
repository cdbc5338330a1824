#include "agent/progress.h"

#include <unistd.h>

namespace nagent {
namespace {

std::string first_line(const std::string& text, size_t max) {
  size_t start = text.find_first_not_of(" \t\r\n");
  if (start == std::string::npos) return "";
  std::string line = text.substr(start, text.find('\n', start) - start);
  if (line.size() > max) {
    size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;  // keep UTF-8 whole
    line = line.substr(0, cut) + "…";
  }
  return line;
}

std::string fmt_seconds(double s) {
  char buf[32];
  if (s < 1) std::snprintf(buf, sizeof buf, "%dms", int(s * 1000));
  else if (s < 60) std::snprintf(buf, sizeof buf, "%.1fs", s);
  else std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  return buf;
}

}  // namespace

std::string short_count(int64_t n) {
  char buf[32];
  if (n < 1000) std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n));
  else if (n < 1000000) std::snprintf(buf, sizeof buf, "%.1fk", double(n) / 1e3);
  else std::snprintf(buf, sizeof buf, "%.2fM", double(n) / 1e6);
  return buf;
}

std::string brief_call(const std::string& tool, const json& a) {
  auto str = [&](const char* key) { return a.contains(key) && a[key].is_string() ? a[key].get<std::string>() : ""; };
  std::string detail;
  if (tool == "read_file") {
    detail = str("path");
    if (a.contains("start_line") || a.contains("end_line"))
      detail += ":" + (a.contains("start_line") ? a["start_line"].dump() : "1") + "-" +
                (a.contains("end_line") ? a["end_line"].dump() : "");
  } else if (tool == "write_file" || tool == "edit_file" || tool == "list_dir") {
    detail = str("path");
  } else if (tool == "shell") {
    detail = str("command");
  } else if (tool == "search") {
    detail = str("pattern");
  } else if (tool == "finish") {
    detail = str("summary");
  } else if (tool == "apply_patch") {
    std::string p = str("patch");
    size_t files = 0;
    for (size_t pos = p.find("+++ "); pos != std::string::npos; pos = p.find("+++ ", pos + 4)) ++files;
    detail = std::to_string(files) + " file(s)";
  } else if (!a.empty()) {
    detail = a.dump();
  }
  return first_line(tool + (detail.empty() ? "" : " " + detail), 72);
}

Progress::Progress(Mode mode, std::FILE* human_out, std::FILE* json_out)
    : mode_(mode), out_(human_out), json_out_(json_out), start_(std::chrono::steady_clock::now()) {
  tty_ = isatty(fileno(out_));
  const char* no_color = std::getenv("NO_COLOR");
  color_ = tty_ && !(no_color && *no_color);
}

double Progress::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::string Progress::paint(const char* code, const std::string& text) const {
  return color_ ? std::string("\033[") + code + "m" + text + "\033[0m" : text;
}

void Progress::clear_status_line() {
  if (status_line_open_) {
    std::fputs("\r\033[K", out_);
    status_line_open_ = false;
  }
}

void Progress::on_delta(const ChatDelta& delta) {
  if (mode_ != Mode::Human || !tty_) return;
  if (delta.restarted) streamed_bytes_ = 0;  // the client retried the stream from the start
  streamed_bytes_ += delta.content.size() + delta.reasoning.size();
  std::fprintf(out_, "\r\033[K%s", paint("2", "  model: " + short_count(int64_t(streamed_bytes_ / 4)) + " tokens…").c_str());
  std::fflush(out_);
  status_line_open_ = true;
}

void Progress::note(const std::string& text) {
  if (mode_ != Mode::Human) return;
  clear_status_line();
  std::fprintf(out_, "%s\n", text.c_str());
  std::fflush(out_);
}

void Progress::on_event(const StoredEvent& e) {
  if (mode_ == Mode::Json) {
    json line = {{"seq", e.seq}, {"type", e.type}, {"data", e.data}};
    std::fprintf(json_out_, "%s\n", line.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
    std::fflush(json_out_);
    return;
  }
  if (mode_ == Mode::Human) human(e);
}

void Progress::human(const StoredEvent& e) {
  const json& d = e.data;
  if (first_event_ts_ == 0) first_event_ts_ = e.ts;
  const std::string elapsed = paint("2", fmt_seconds(e.ts - first_event_ts_));
  const bool numbered = d.is_object() && (e.type == "model_reply" || e.type == "tool_result" ||
                                          e.type == "user_message" || e.type == "context_compaction");
  const std::pair<int, int> op_step = numbered ? std::pair<int, int>{d.value("op", -1), d.value("step", 0)}
                                               : std::pair<int, int>{-1, -1};
  if (e.type == "model_reply") turn_of_[op_step] = ++session_turns_;
  // The turn's number: the agent's step + 1, or with session numbering the turn's place in
  // the session (a compaction comes before the agent's next turn).
  auto step_tag = [&](int step) {
    int number = step + 1;
    if (session_numbering_) {
      auto it = turn_of_.find(op_step);
      number = e.type == "context_compaction" || it == turn_of_.end() ? session_turns_ + 1 : it->second;
    }
    char buf[16];
    std::snprintf(buf, sizeof buf, "[%3d]", number);
    return paint("2", buf);
  };
  clear_status_line();
  if (e.type == "model_reply") {
    streamed_bytes_ = 0;
    for (const auto& c : d.value("tool_calls", json::array()))
      call_brief_[c.value("id", "")] = brief_call(c.value("name", ""), c.value("arguments", json::object()));
    const int64_t used = d.value("context_tokens", int64_t(0));
    std::string ctx = short_count(used);
    if (int64_t window = d.value("context_window", int64_t(0)); window > 0)
      ctx += "/" + short_count(window) + " " + std::to_string(int(100 * used / window)) + "%";
    std::string said = first_line(d.value("content", ""), 60);
    if (said.empty()) said = first_line(d.value("reasoning", ""), 60);
    std::fprintf(out_, "%s %s %6s  ctx %s  tok %s  %s%s\n", step_tag(d.value("step", 0)).c_str(),
                 paint("36", "model").c_str(), fmt_seconds(d.value("duration_ms", 0.0) / 1000).c_str(), ctx.c_str(),
                 short_count(d.value("tokens_total", int64_t(0))).c_str(), elapsed.c_str(),
                 said.empty() ? "" : ("  " + paint("2", said)).c_str());
  } else if (e.type == "tool_result") {
    std::string brief = call_brief_[d.value("call_id", "")];
    if (brief.empty()) brief = d.value("name", "");
    const bool ok = d.value("ok", true);
    std::string status = ok ? paint("32", "ok") : paint("31", "failed");
    if (d.contains("exit_code") && d["exit_code"].get<int>() != 0) status += " (exit " + d["exit_code"].dump() + ")";
    if (d.contains("data") && d["data"].contains("passed"))
      status = d["data"]["passed"].get<bool>() ? paint("32", "tests pass") : paint("31", "tests fail");
    std::fprintf(out_, "%s   %-60s %6s  %s\n", step_tag(d.value("step", 0)).c_str(), brief.c_str(),
                 fmt_seconds(d.value("duration_ms", 0.0) / 1000).c_str(), status.c_str());
  } else if (e.type == "user_message") {
    std::fprintf(out_, "%s   %s\n", step_tag(d.value("step", 0)).c_str(),
                 paint("33", first_line(d.value("content", ""), 90)).c_str());
  } else if (e.type == "agent_start") {
    std::fprintf(out_, "%s %s\n", paint("1", "agent " + d.value("name", std::string("agent"))).c_str(),
                 paint("2", first_line(d.value("task", ""), 80)).c_str());
  } else if (e.type == "context_compaction") {
    const json span = d.value("span", json::array({0, 0}));
    std::string what = d.value("summary_source", "").empty()
                           ? "old reasoning and tool outputs elided"
                           : "checkpoint of " + std::to_string(span[1].get<int64_t>() - span[0].get<int64_t>()) +
                                 " messages by " + d.value("summary_source", "");
    std::fprintf(out_, "%s %s %s -> %s of %s (%s)  %s\n", step_tag(d.value("step", 0)).c_str(),
                 paint("35", "context").c_str(), short_count(d.value("tokens_before", int64_t(0))).c_str(),
                 short_count(d.value("tokens_after", int64_t(0))).c_str(),
                 short_count(d.value("window", int64_t(0))).c_str(), d.value("trigger", "").c_str(), what.c_str());
  } else if (e.type == "session_fork") {
    std::fprintf(out_, "%s\n", paint("33", "forked from " + d.value("from", "") + " at step " + d["at_step"].dump()).c_str());
  } else if (e.type == "agent_resume") {
    std::fprintf(out_, "%s\n", paint("33", "resuming after step " + d["steps"].dump()).c_str());
  } else if (e.type == "op_end" && d.value("kind", "") == "tool") {
    const json& r = d["result"];
    std::string brief = brief_call(d.value("name", ""), d.value("args", json::object()));
    std::string status = r.value("ok", false) ? paint("32", "ok") : paint("31", "failed");
    if (r.contains("data") && r["data"].contains("passed"))
      status = r["data"]["passed"].get<bool>() ? paint("32", "tests pass") : paint("31", "tests fail");
    std::fprintf(out_, "recipe  %-60s        %s\n", brief.c_str(), status.c_str());
  } else if (e.type == "log") {
    std::fprintf(out_, "%s\n", d.value("text", "").c_str());
  }
  std::fflush(out_);
}

}  // namespace nagent
