// Per-step overhead of the planner loop, excluding the model and the tool: an in-process
// backend answers at once with a qwen3_coder tool call, the tool returns at once, and the
// session already holds 10,000 events (the agent resumes a 5,000-step conversation). What
// is left per step is nagent's own work: parsing the reply, validating and dispatching the
// call, journaling two events durably, growing the conversation. The baseline, measured in
// the same run, is two durable appends (write + fdatasync) of the same event sizes.
//
//   build/bench/bench_agent_loop [steps=500] [history_events=10000]
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "agent/planner.h"
#include "bench_util.h"

using namespace nagent;

namespace {

// Answers every request at once with one call of the no-op tool; records when it was asked.
class InstantBackend : public Backend {
 public:
  std::vector<double> asked_at_ms;
  ChatReply chat(const ChatRequest&, const DeltaCallback&) override {
    asked_at_ms.push_back(bench::now_ms());
    ChatReply r;
    r.content =
        "Checking the next file.\n<tool_call>\n<function=noop>\n<parameter=path>\nsrc/module_"
        "17.py\n</parameter>\n</function>\n</tool_call>";
    r.usage = {1200, 40, true};
    return r;
  }
  std::string describe() const override { return "instant"; }
};

class NoopTool : public Tool {
 public:
  std::string name() const override { return "noop"; }
  std::string description() const override { return "does nothing"; }
  json parameters() const override {
    return {{"type", "object"}, {"properties", {{"path", {{"type", "string"}}}}}, {"required", {"path"}}};
  }
  bool read_only() const override { return false; }
  ToolResult run(const json&, ToolContext&) const override { return {true, std::string(600, 'x')}; }
};

}  // namespace

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 500;
  const int history = argc > 2 ? std::atoi(argv[2]) : 10000;
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("nagent-bench-loop-" + std::to_string(getpid()));
  fs::create_directories(dir / "ws");

  const bool full = std::getenv("NAGENT_DURABILITY") && std::string(std::getenv("NAGENT_DURABILITY")) == "full";
  SessionStore store((dir / "s.db").string(), full ? SessionStore::Durability::Full : SessionStore::Durability::Normal);
  store.create_session({"bench", 0, 0, "", "", "", "", 0});
  {
    std::string output(600, 'x');
    for (int i = 0; i < history / 2; ++i) {
      store.append("bench", "model_reply",
                   {{"op", 0}, {"step", i}, {"content", "Checking the next file."},
                    {"tool_calls", json::array({{{"id", "c" + std::to_string(i)}, {"name", "noop"}, {"arguments", {{"path", "a.py"}}}}})},
                    {"tokens_total", 0}});
      store.append("bench", "tool_result",
                   {{"op", 0}, {"step", i}, {"call_id", "c" + std::to_string(i)}, {"name", "noop"}, {"output", output}});
    }
  }

  double t0 = bench::now_ms();
  Journal journal(store, "bench", store.events("bench"));
  const double rebuild_ms = bench::now_ms() - t0;

  ToolRegistry tools;
  tools.add(std::make_shared<NoopTool>());
  Workspace workspace(dir / "ws");
  auto runner = sandbox::make_plain_runner();
  ToolContext context{workspace, *runner, ""};
  InstantBackend backend;
  AgentConfig config;
  config.max_steps = history / 2 + steps;
  Agent agent(config, backend, tools, context, journal);
  agent.run("benchmark task", 0);

  std::vector<double> step_ms;
  for (size_t i = 1; i < backend.asked_at_ms.size(); ++i) step_ms.push_back(backend.asked_at_ms[i] - backend.asked_at_ms[i - 1]);

  // Baseline: two durable appends of the same sizes.
  std::vector<double> floor_ms;
  {
    int fd = open((dir / "plain.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    std::string reply(400, 'r'), result(800, 'o');
    for (int i = 0; i < steps; ++i) {
      double s = bench::now_ms();
      if (write(fd, reply.data(), reply.size()) < 0 || fdatasync(fd) != 0) return 1;
      if (write(fd, result.data(), result.size()) < 0 || fdatasync(fd) != 0) return 1;
      floor_ms.push_back(bench::now_ms() - s);
    }
    close(fd);
  }

  const double p50 = bench::quantile(step_ms, 0.5), p99 = bench::quantile(step_ms, 0.99);
  const double floor_p50 = bench::quantile(floor_ms, 0.5);
  std::printf("planner loop, %zu steps on a session of %d events (conversation of %d messages)\n", step_ms.size(),
              history, history + 1);
  std::printf("%-44s %9s %9s %9s\n", "", "p50 ms", "p99 ms", "x floor");
  std::printf("%-44s %9.3f %9.3f %9.2f\n", "floor: 2 x (write + fdatasync)", floor_p50, bench::quantile(floor_ms, 0.99), 1.0);
  std::printf("%-44s %9.3f %9.3f %9.2f\n", full ? "per-step overhead (durability full)" : "per-step overhead (durability normal)",
              p50, p99, p50 / floor_p50);
  std::printf("resume: rebuilding the journal of %d events: %.1f ms\n", history, rebuild_ms);
  fs::remove_all(dir);
  return 0;
}
