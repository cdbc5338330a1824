// Test helper: what an agent or recipe needs, wired for tests: a scripted model server
// (the test double) with a real OpenAI client, a session store and journal, a workspace with
// the given files, the plain runner and the built-in tools.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "agent/journal.h"
#include "engine/openai_client.h"
#include "support/scripted_server.h"
#include "support/temp_repo.h"
#include "tools/tool.h"

struct AgentTestbed {
  TempDir dir;
  std::string session;
  ScriptedServer server;
  std::unique_ptr<nagent::OpenAIClient> client;
  std::unique_ptr<nagent::SessionStore> store;
  std::unique_ptr<nagent::Journal> journal;
  std::unique_ptr<nagent::Workspace> workspace;
  std::unique_ptr<nagent::sandbox::Runner> runner = nagent::sandbox::make_plain_runner();
  nagent::ToolRegistry tools = nagent::builtin_tools();
  std::unique_ptr<nagent::ToolContext> context;

  // files: workspace-relative path -> content; the workspace is dir/ws.
  AgentTestbed(const std::string& tag, std::string session_id, const std::string& test_cmd,
               const std::map<std::string, std::string>& files)
      : dir(tag), session(std::move(session_id)) {
    nagent::OpenAIClientConfig config;
    config.endpoint = server.endpoint();
    config.model = "scripted-model";
    config.retry.max_retries = 0;
    client = std::make_unique<nagent::OpenAIClient>(config);
    store = std::make_unique<nagent::SessionStore>((dir.path() / "s.db").string());
    store->create_session({session, 0, 0, "", "", "", "", 0});
    journal = std::make_unique<nagent::Journal>(*store, session);
    for (const auto& [path, content] : files) write_text(dir.path() / "ws" / path, content);
    workspace = std::make_unique<nagent::Workspace>(dir.path() / "ws");
    context = std::make_unique<nagent::ToolContext>(nagent::ToolContext{*workspace, *runner, test_cmd});
  }
};
