// The context layer on a 1M-token, 5,000-event session: appending an event (with its
// artifact when the output is long), rebuilding the agent's context for --resume (read,
// parse, replay), rendering the next step's prompt incrementally (against a full render in
// the same run), and the store's size against the raw text it holds.
//
//   build/bench/bench_context [events=5000]
#include <sqlite3.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "agent/context/tool_output_view.h"
#include "agent/planner.h"
#include "bench_util.h"
#include "engine/chat_template.h"
#include "engine/incremental_prompt.h"

using namespace nagent;

namespace {

// Replays only: a resumed agent whose step budget is spent never asks the model.
struct NoModel : Backend {
  ChatReply chat(const ChatRequest&, const DeltaCallback&) override { throw BackendError("no model in this bench"); }
  std::string describe() const override { return "none"; }
  int64_t context_window() const override { return 1048576; }
};

std::string text_block(std::mt19937& rng, size_t bytes) {
  static const char* words[] = {"def", "return", "self", "value", "error", "test", "config", "path", "line", "assert"};
  std::string s;
  while (s.size() < bytes) {
    s += words[rng() % 10];
    s += (rng() % 9 == 0) ? "\n" : " ";
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const int events = argc > 1 ? std::atoi(argv[1]) : 5000;
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("nagent-bench-context-" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::mt19937 rng(7);
  SessionStore store((dir / "s.db").string());
  store.create_session({"b", 0, 0, "", "", "", "", 0});
  Journal journal(store, "b");
  ContextPolicy policy;

  // 1M tokens at ~4 bytes a token: half the events are replies (~300 B), half tool results,
  // one in forty of those a long output (an artifact, ~40 KB), the rest ~600 B.
  std::vector<double> append_ms;
  size_t raw_bytes = 0;
  journal.record("agent_start", {{"op", 0}, {"task", "bench"}});
  for (int i = 0; i < events / 2; ++i) {
    const std::string said = text_block(rng, 300);
    json reply = {{"op", 0}, {"step", i}, {"content", said}, {"reasoning", ""},
                  {"tool_calls", json::array({{{"id", "call_" + std::to_string(i)}, {"name", "shell"},
                                               {"arguments", {{"command", "cat f" + std::to_string(i)}}}}})},
                  {"usage", {{"prompt_tokens", 0}, {"completion_tokens", 75}, {"reported", false}}}};
    raw_bytes += said.size();
    double t0 = bench::now_ms();
    journal.record("model_reply", reply);
    append_ms.push_back(bench::now_ms() - t0);

    ToolResult r;
    r.output = text_block(rng, i % 40 == 0 ? 40000 : 600);
    raw_bytes += r.output.size();
    if (r.output.size() > policy.artifact_bytes) {
      r.full_output = r.output;
      r.output = cap_output(r.output, policy.view_bytes);
    }
    t0 = bench::now_ms();
    ToolOutputView view = view_of(r, policy, &journal.artifacts());
    json result = {{"op", 0}, {"step", i}, {"call_id", "call_" + std::to_string(i)}, {"name", "shell"},
                   {"ok", true}, {"output", view.text}};
    if (!view.artifact.empty()) result["artifact"] = view.artifact;
    journal.record("tool_result", result);
    append_ms.push_back(bench::now_ms() - t0);
  }

  // Resume: read and parse every event, replay them into the agent's conversation.
  double t0 = bench::now_ms();
  Journal resumed(store, "b", store.events("b"));
  NoModel model;
  auto runner = sandbox::make_plain_runner();
  Workspace ws(dir);
  ToolContext ctx{ws, *runner, ""};
  AgentConfig config;
  config.max_steps = events / 2;
  config.context.window = 1048576;
  config.context.strategy = "none";
  Agent agent(config, model, builtin_tools(), ctx, resumed);
  const AgentResult replayed = agent.run("bench", 0);
  const double rebuild_ms = bench::now_ms() - t0;

  // The next step's prompt: the conversation so far plus one turn, rendered incrementally
  // (after the previous step's render) and in full.
  ChatRequest request;
  for (const auto& e : store.events("b")) {
    if (e.type == "model_reply")
      request.messages.push_back({"assistant", e.data["content"], "", {{"x", "shell", e.data["tool_calls"][0]["arguments"]}}, "", ""});
    if (e.type == "tool_result") request.messages.push_back(Message::tool_result("x", "shell", e.data["output"]));
  }
  request.messages.insert(request.messages.begin(), Message::user("bench"));
  request.tools = builtin_tools().openai_schemas();
  IncrementalPrompt prompt;
  std::vector<double> incremental_ms, full_ms;
  for (int k = 0; k < 21; ++k) {
    request.stable_prefix_messages = request.messages.size();
    request.messages.push_back({"assistant", text_block(rng, 300), "", {{"x", "shell", {{"command", "ls"}}}}, "", ""});
    request.messages.push_back(Message::tool_result("x", "shell", text_block(rng, 600)));
    if (k == 0) prompt.render(request);  // the previous step's render
    double t1 = bench::now_ms();
    const size_t n = prompt.render(request).size();
    incremental_ms.push_back(bench::now_ms() - t1);
    t1 = bench::now_ms();
    const size_t m = render_nemotron3_prompt(request).size();
    full_ms.push_back(bench::now_ms() - t1);
    if (n != m) return std::fprintf(stderr, "incremental and full renders differ\n"), 1;
  }

  // Size as stored: the write-ahead log checkpointed into the database file.
  sqlite3* db = nullptr;
  sqlite3_open((dir / "s.db").c_str(), &db);
  sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  uintmax_t db_bytes = 0;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().filename().string().rfind("s.db", 0) == 0) db_bytes += entry.file_size();

  std::printf("context bench: %d events, %zu raw bytes (~%.2fM tokens at 4 bytes/token), %d replayed turns\n",
              events, raw_bytes, double(raw_bytes) / 4e6, replayed.steps);
  std::printf("append event (with artifact when long): p50 %.3f ms, p99 %.3f ms\n", bench::quantile(append_ms, 0.5),
              bench::quantile(append_ms, 0.99));
  std::printf("rebuild for resume (read + parse + replay): %.1f ms\n", rebuild_ms);
  std::printf("next-step prompt render: incremental p50 %.3f ms, full p50 %.3f ms (%.1fx)\n",
              bench::quantile(incremental_ms, 0.5), bench::quantile(full_ms, 0.5),
              bench::quantile(full_ms, 0.5) / bench::quantile(incremental_ms, 0.5));
  std::printf("store size / raw text: %.2f (%ju / %zu bytes)\n", double(db_bytes) / double(raw_bytes), db_bytes,
              raw_bytes);
  fs::remove_all(dir);
  return 0;
}
