// The context layer end to end in one process: the planner against the scripted model
// server (test double), the real tools and SQLite store. Compaction triggers at the
// threshold, frees what it promised, does not loop on a long summary; a session of a
// million tokens stays within a 128K window; artifacts are read back exactly; a resumed
// agent rebuilds the exact context, compactions included.
#include <catch2/catch.hpp>

#include <mutex>
#include <regex>

#include "agent/context/artifact_store.h"
#include "agent/planner.h"
#include "support/agent_testbed.h"
#include "support/long_session_script.h"
#include "tools/builtin.h"

using namespace nagent;

namespace {

std::string lines_of(const std::string& tag, int count, int width) {
  std::string out;
  for (int i = 0; i < count; ++i) {
    std::string line = tag + " line " + std::to_string(i) + " ";
    while (int(line.size()) < width) line += char('a' + (i + int(line.size())) % 26);
    out += line + "\n";
  }
  return out;
}

struct ContextFixture : AgentTestbed {
  explicit ContextFixture(std::map<std::string, std::string> files = {}, const std::string& session = "c")
      : AgentTestbed("context", session, "", with_readme(std::move(files))) {}
  static std::map<std::string, std::string> with_readme(std::map<std::string, std::string> files) {
    files["README"] = "a workspace\n";
    return files;
  }

  AgentResult run(AgentConfig config, const std::string& task = "work through the files") {
    Agent agent(std::move(config), *client, tools, *context, *journal);
    return agent.run(task, 0);
  }
  std::vector<StoredEvent> events(const std::string& type) const {
    std::vector<StoredEvent> out;
    for (auto& e : store->events(session))
      if (e.type == type) out.push_back(e);
    return out;
  }
  // The server-reported prompt size of every model turn, in order.
  std::vector<int64_t> prompt_sizes() const {
    std::vector<int64_t> out;
    for (const auto& e : events("model_reply")) out.push_back(e.data["usage"]["prompt_tokens"].get<int64_t>());
    return out;
  }
};

AgentConfig small_window_config(int64_t window, int keep_recent) {
  AgentConfig c;
  c.system_prompt = "You are a test agent.";
  c.tools = {"shell", "finish"};
  c.max_steps = 200;
  c.context.window = window;
  c.context.keep_recent = keep_recent;
  return c;
}

// Every compaction event of the session with the model turn that followed it.
struct CompactionSeen {
  json event;
  int64_t next_prompt = -1;  // the server-reported prompt size of the next turn
};
std::vector<CompactionSeen> compactions_of(const std::vector<StoredEvent>& all) {
  std::vector<CompactionSeen> out;
  for (const auto& e : all) {
    if (e.type == "context_compaction") out.push_back({e.data});
    if (e.type == "model_reply" && !out.empty() && out.back().next_prompt < 0)
      out.back().next_prompt = e.data["usage"]["prompt_tokens"].get<int64_t>();
  }
  return out;
}

}  // namespace

TEST_CASE("context: compaction triggers at the threshold and frees what it promised", "[context][compaction]") {
  std::map<std::string, std::string> files;
  for (int i = 0; i < 5; ++i) files["f" + std::to_string(i) + ".txt"] = lines_of("file" + std::to_string(i), 100, 60);
  ContextFixture f(files);
  const int64_t window = 16384;
  f.server.set_responder([](const json& request) -> ScriptedReply {
    const int step = requested_step(request);
    if (step >= 30) return finish_reply(step);
    const std::string cmd = "cat f" + std::to_string(step % 5) + ".txt; echo step-" + std::to_string(step);
    return {.tool_calls = json::array({scripted_call(step, "shell", {{"command", cmd}})})};
  });
  AgentResult r = f.run(small_window_config(window, 2));
  REQUIRE(r.outcome == "finished");

  const auto seen = compactions_of(f.store->events("c"));
  REQUIRE(seen.size() >= 2);
  const int64_t threshold = int64_t(0.8 * double(window));
  for (const auto& c : seen) {
    const json& e = c.event;
    INFO(e.dump());
    CHECK(e["trigger"] == "threshold");
    // At the threshold: past it, by no more than one turn's growth (one ~6 KB output).
    CHECK(e["tokens_before"].get<int64_t>() > threshold);
    CHECK(e["tokens_before"].get<int64_t>() <= threshold + 2200);
    // Stages a and b were enough: no model call; the promise: the target, and at least
    // the guaranteed fifth of the window freed.
    CHECK(e["summary_source"] == "");
    CHECK(e["elided"].size() > 0);
    CHECK(e["tokens_after"].get<int64_t>() <= window / 2);
    CHECK(e["tokens_after"].get<int64_t>() <= e["tokens_before"].get<int64_t>() - window / 5);
    // And the server's own count of the next prompt agrees (within 5% of the window).
    CHECK(c.next_prompt <= e["tokens_after"].get<int64_t>() + window / 20);
  }
  for (const auto& p : f.prompt_sizes()) CHECK(p < window);
  for (const auto& request : f.server.requests()) CHECK_FALSE(is_checkpoint_request(request));
  // The old outputs are handles now; the whole text is one read_artifact away.
  const json last = f.server.requests().back()["messages"];
  int elided = 0;
  for (const auto& m : last) elided += m["content"].get<std::string>().find("elided to save context: artifact art_") != std::string::npos;
  CHECK(elided > 0);
}

TEST_CASE("context: stage c summarizes the oldest span into a checkpoint, keeping system prompt and task",
          "[context][compaction]") {
  ContextFixture f;
  const int64_t window = 16384;
  const std::string prose = lines_of("thinking aloud", 50, 80);  // ~4 KB of reply text per turn
  std::mutex mutex;
  f.server.set_responder([&](const json& request) -> ScriptedReply {
    if (is_checkpoint_request(request))
      return {.content = "## Goal\nwork through the files\n## Decisions\n- none\n## Files touched\n- none\n"
                         "## Tried and failed\n- nothing\n## Open questions\n- none\n## Next steps\n- go on"};
    const int step = requested_step(request);
    if (step >= 25) return finish_reply(step);
    return {.content = prose,
            .tool_calls = json::array({scripted_call(step, "shell", {{"command", "echo step-" + std::to_string(step)}})})};
  });
  AgentResult r = f.run(small_window_config(window, 2), "the task, verbatim");
  REQUIRE(r.outcome == "finished");

  const auto seen = compactions_of(f.store->events("c"));
  REQUIRE(!seen.empty());
  size_t checkpoint_requests = 0;
  for (const auto& request : f.server.requests()) {
    if (!is_checkpoint_request(request)) continue;
    ++checkpoint_requests;
    // Sized to fit: the request, and the summary budget it asks for, are within the window.
    CHECK(int64_t(request.dump().size() / 4) + request["max_tokens"].get<int64_t>() < window);
    CHECK(request["max_tokens"] == window / 16);
    CHECK(!request.contains("tools"));
  }
  size_t summarized = 0;
  for (const auto& c : seen) {
    INFO(c.event.dump());
    CHECK(c.event["summary_source"] == "model");
    summarized += c.event["summary_source"] == "model";
    CHECK(c.event["tokens_after"].get<int64_t>() <= c.event["tokens_before"].get<int64_t>() - window / 5);
    CHECK(c.next_prompt < int64_t(0.8 * double(window)));
  }
  CHECK(checkpoint_requests == summarized);
  // The request after the last compaction: system prompt and task verbatim, then the
  // checkpoint, then the latest turns.
  size_t after = 0;
  const auto requests = f.server.requests();
  for (size_t i = 0; i < requests.size(); ++i)
    if (is_checkpoint_request(requests[i])) after = i + 1;
  const json m = requests.at(after)["messages"];
  CHECK(m[0]["content"] == "You are a test agent.");
  CHECK(m[1]["content"] == "the task, verbatim");
  REQUIRE(m[2]["role"] == "user");
  CHECK(m[2]["content"].get<std::string>().rfind("[Checkpoint: steps 1-", 0) == 0);
  CHECK(m[2]["content"].get<std::string>().find("## Next steps\n- go on") != std::string::npos);
  CHECK(m[3]["role"] == "assistant");
}

TEST_CASE("context: a summary longer than its budget is cut, so compaction frees what it promised and never loops",
          "[context][compaction]") {
  ContextFixture f;
  const int64_t window = 16384;
  const std::string prose = lines_of("thinking aloud", 50, 80);
  const std::string endless_summary = "## Goal\n" + lines_of("a summary that goes on", 800, 80);  // ~64 KB
  f.server.set_responder([&](const json& request) -> ScriptedReply {
    if (is_checkpoint_request(request)) return {.content = endless_summary};
    const int step = requested_step(request);
    if (step >= 40) return finish_reply(step);
    return {.content = prose,
            .tool_calls = json::array({scripted_call(step, "shell", {{"command", "echo step-" + std::to_string(step)}})})};
  });
  AgentResult r = f.run(small_window_config(window, 2));
  REQUIRE(r.outcome == "finished");

  const auto seen = compactions_of(f.store->events("c"));
  REQUIRE(seen.size() >= 2);
  int previous_step = -100;
  for (const auto& c : seen) {
    INFO(c.event.dump());
    CHECK(c.event["summary_source"] == "model");
    CHECK(c.event["tokens_after"].get<int64_t>() <= c.event["tokens_before"].get<int64_t>() - window / 5);
    CHECK(c.next_prompt < int64_t(0.8 * double(window)));
    // Never back to back: at least the freed fifth of the window (~4 turns here) between two.
    const int step = c.event["step"].get<int>();
    CHECK(step - previous_step >= 3);
    previous_step = step;
    // The checkpoint kept is the summary's budget, not the 64 KB the model wrote.
    CHECK(c.event["summary"].get<std::string>().size() < size_t(window / 16) * 4);
  }
  size_t checkpoint_requests = 0;
  for (const auto& request : f.server.requests()) checkpoint_requests += is_checkpoint_request(request);
  CHECK(checkpoint_requests == seen.size());
}

TEST_CASE("context: a 1M-token session of large tool outputs stays within a 128K window", "[context][long]") {
  std::map<std::string, std::string> files;
  for (int i = 0; i < 4; ++i) files["big" + std::to_string(i) + ".txt"] = lines_of("big" + std::to_string(i), 1500, 80);
  for (int i = 0; i < 4; ++i) files["mid" + std::to_string(i) + ".txt"] = lines_of("mid" + std::to_string(i), 180, 80);
  ContextFixture f(files);
  const int64_t window = 131072;
  const int steps = 70;
  f.server.set_responder([&](const json& request) -> ScriptedReply {
    if (is_checkpoint_request(request)) return {.content = "## Goal\nread everything\n## Next steps\n- keep reading"};
    const int step = requested_step(request);
    if (step >= steps) return finish_reply(step);
    // Even turns: a ~120 KB output (an artifact, 16 KB shown); odd turns: ~15 KB shown whole.
    const std::string file = (step % 2 == 0 ? "big" : "mid") + std::to_string(step / 2 % 4) + ".txt";
    return {.content = "Reading " + file + ".",
            .tool_calls = json::array({scripted_call(
                step, "shell", {{"command", "cat " + file + "; echo step-" + std::to_string(step)}})})};
  });
  AgentConfig config = small_window_config(window, 4);
  AgentResult r = f.run(config);
  REQUIRE(r.outcome == "finished");

  // A million tokens (at the server's 4 bytes a token) went through the session.
  uint64_t output_bytes = 0;
  for (const auto& e : f.events("tool_result")) {
    const std::string artifact = e.data.value("artifact", "");
    output_bytes += artifact.empty() ? e.data["output"].get<std::string>().size()
                                     : f.journal->artifacts().info(artifact)->bytes;
  }
  CHECK(output_bytes / 4 >= 1'000'000);
  // ... and no prompt came near the window.
  const auto sizes = f.prompt_sizes();
  REQUIRE(sizes.size() == size_t(steps + 1));
  for (const auto& p : sizes) CHECK(p < window);
  for (const auto& request : f.server.requests()) CHECK(int64_t(request.dump().size() / 4) < window);
  CHECK(compactions_of(f.store->events("c")).size() >= 1);
}

TEST_CASE("context: artifact tools return exact slices of a stored output", "[context][artifacts]") {
  ContextFixture f;
  ArtifactStore& store = f.journal->artifacts();
  std::string text;
  for (int i = 1; i <= 1000; ++i) text += "row " + std::to_string(i) + (i % 100 == 0 ? " HUNDRED" : "") + "\n";
  const ArtifactInfo a = store.put(text);
  CHECK(a.id == ArtifactStore::id_of(text));
  CHECK(a.id.size() == 20);
  CHECK(a.lines == 1000);
  CHECK(store.put(text).id == a.id);  // content-addressed: stored once
  CHECK(*store.artifact_text(a.id) == text);

  ToolContext ctx = *f.context;
  ctx.artifacts = &store;
  auto read = make_read_artifact_tool();
  ToolResult slice = read->run({{"id", a.id}, {"start_line", 500}, {"end_line", 503}}, ctx);
  REQUIRE(slice.ok);
  CHECK(slice.output == "row 500 HUNDRED\nrow 501\nrow 502\nrow 503\n[" + a.id + ": lines 500-503 of 1000]");
  CHECK(slice.data["end_line"] == 503);
  ToolResult tail = read->run({{"id", a.id}, {"start_line", 999}, {"end_line", 5000}}, ctx);
  CHECK(tail.output == "row 999\nrow 1000 HUNDRED\n[" + a.id + ": lines 999-1000 of 1000]");
  ctx.output_limit_bytes = 64;
  ToolResult paged = read->run({{"id", a.id}}, ctx);
  CHECK(paged.output.find("continue with start_line=") != std::string::npos);
  CHECK(paged.output.rfind("row 1\nrow 2\n", 0) == 0);
  ctx.output_limit_bytes = 16 * 1024;
  CHECK_FALSE(read->run({{"id", "art_0000000000000000"}}, ctx).ok);
  CHECK_FALSE(read->run({{"id", a.id}, {"start_line", 1001}}, ctx).ok);

  auto search = make_search_artifact_tool();
  ToolResult found = search->run({{"id", a.id}, {"pattern", "HUNDRED$"}}, ctx);
  REQUIRE(found.ok);
  CHECK(found.data["matches"] == 10);
  CHECK(found.data["lines"][0] == 100);
  CHECK(found.output.rfind("100: row 100 HUNDRED\n200: row 200 HUNDRED\n", 0) == 0);
  CHECK_FALSE(search->run({{"id", a.id}, {"pattern", "("}}, ctx).ok);
}

TEST_CASE("context: a long output reaches the model as head, tail and handle, and the model reads the rest",
          "[context][artifacts]") {
  ContextFixture f;
  std::string artifact;
  f.server.set_responder([&](const json& request) -> ScriptedReply {
    const json& m = request["messages"];
    const std::string last = m.back()["content"].get<std::string>();
    if (m.back()["role"] != "tool")
      return {.tool_calls = json::array({scripted_call(0, "shell", {{"command", "seq 1 100000"}})})};
    std::smatch id;
    if (m.back()["tool_call_id"] == "call_0") {
      REQUIRE(std::regex_search(last, id, std::regex("art_[0-9a-f]{16}")));
      artifact = id[0];
      return {.tool_calls = json::array(
                  {scripted_call(1, "read_artifact", {{"id", artifact}, {"start_line", 77777}, {"end_line", 77779}}),
                   scripted_call(2, "search_artifact", {{"id", artifact}, {"pattern", "^9999[0-4]$"}})})};
    }
    return finish_reply(3);
  });
  AgentConfig config;
  config.tools = {"shell", "finish"};
  AgentResult r = f.run(config);
  REQUIRE(r.outcome == "finished");
  const auto results = f.events("tool_result");
  REQUIRE(results.size() == 4);
  const std::string view = results[0].data["output"];
  CHECK(results[0].data["artifact"] == artifact);
  CHECK(view.size() < 17 * 1024);
  CHECK(view.rfind("1\n2\n3\n", 0) == 0);
  CHECK(view.find("100000\n") != std::string::npos);
  CHECK(view.find("[the whole output is artifact " + artifact) != std::string::npos);
  std::string whole;
  for (int i = 1; i <= 100000; ++i) whole += std::to_string(i) + "\n";
  CHECK(*f.journal->artifacts().artifact_text(artifact) == whole + "[exit code 0]");
  CHECK(results[1].data["output"] == "77777\n77778\n77779\n[" + artifact + ": lines 77777-77779 of 100001]");
  CHECK(results[2].data["output"].get<std::string>().rfind("99990: 99990\n99991: 99991\n", 0) == 0);
  CHECK(results[2].data["data"]["matches"] == 5);
}

TEST_CASE("context: a resumed agent rebuilds the exact context, compactions included", "[context][resume]") {
  const std::string prose = lines_of("thinking aloud", 50, 80);
  // The same scripted model for both runs; every request for a turn is remembered.
  struct Model {
    std::mutex mutex;
    std::map<int, json> by_step;
    std::vector<std::string> mismatches;
    ScriptedReply operator()(const json& request, const std::string& prose) {
      if (is_checkpoint_request(request)) return {.content = "## Goal\nthe checkpoint\n## Next steps\n- on"};
      const int step = requested_step(request);
      {
        std::lock_guard lock(mutex);
        auto [it, fresh] = by_step.emplace(step, request["messages"]);
        if (!fresh && it->second != request["messages"]) mismatches.push_back("turn " + std::to_string(step));
      }
      if (step >= 30) return finish_reply(step);
      return {.content = prose,
              .tool_calls = json::array({scripted_call(step, "shell", {{"command", "echo step-" + std::to_string(step)}})})};
    }
  } model;
  // The uninterrupted run sets what every turn's request must be.
  ContextFixture reference({}, "ref");
  reference.server.set_responder([&](const json& r) { return model(r, prose); });
  REQUIRE(reference.run(small_window_config(16384, 2)).outcome == "finished");
  REQUIRE(!compactions_of(reference.store->events("ref")).empty());

  // A run stopped by its step budget in the middle (as if killed), resumed three times.
  ContextFixture f({}, "c");
  f.server.set_responder([&](const json& r) { return model(r, prose); });
  AgentConfig config = small_window_config(16384, 2);
  for (int stop : {7, 13, 22}) {
    config.max_steps = stop;
    Journal journal(*f.store, "c", f.store->events("c"));
    Agent agent(config, *f.client, f.tools, *f.context, journal);
    REQUIRE(agent.run("work through the files", 0).outcome == "budget_exhausted");
  }
  config.max_steps = 200;
  Journal journal(*f.store, "c", f.store->events("c"));
  Agent agent(config, *f.client, f.tools, *f.context, journal);
  REQUIRE(agent.run("work through the files", 0).outcome == "finished");

  CHECK(model.mismatches.empty());
  CHECK(compactions_of(f.store->events("c")).size() == compactions_of(reference.store->events("ref")).size());
  // Each turn was asked once per run: the resumed runs re-sent none of the earlier ones.
  CHECK(f.prompt_sizes() == reference.prompt_sizes());
}
