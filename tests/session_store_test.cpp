#include <catch2/catch.hpp>

#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/journal.h"
#include "agent/session_store.h"
#include "support/temp_repo.h"

using namespace nagent;

TEST_CASE("session store: sessions and events round-trip", "[store]") {
  TempDir dir("store");
  const std::string db = (dir.path() / "s.db").string();
  {
    SessionStore store(db);
    store.create_session({"s1", 0, 0, "recipes/swe_fix.lua", "/repo", "fix it", "", 0});
    CHECK(store.append("s1", "session_start", {{"a", 1}}) == 1);
    CHECK(store.append("s1", "model_reply", {{"text", "héllo\nworld"}}) == 2);
    CHECK(store.append("s1", "tool_result", {{"ok", true}}) == 3);
    store.set_status("s1", "succeeded");
  }
  SessionStore store(db);  // reopened: everything was committed
  auto info = store.session("s1");
  REQUIRE(info);
  CHECK(info->recipe == "recipes/swe_fix.lua");
  CHECK(info->task == "fix it");
  CHECK(info->status == "succeeded");
  CHECK(info->event_count == 3);
  auto events = store.events("s1");
  REQUIRE(events.size() == 3);
  CHECK(events[1].type == "model_reply");
  CHECK(events[1].data["text"] == "héllo\nworld");
  CHECK(events[2].seq == 3);
  CHECK(store.events("s1", 2).size() == 1);
  CHECK_FALSE(store.session("nope"));
}

TEST_CASE("session store: duplicate id is refused with a hint", "[store]") {
  TempDir dir("store");
  SessionStore store((dir.path() / "s.db").string());
  store.create_session({"dup", 0, 0, "", "", "", "", 0});
  REQUIRE_THROWS_WITH(store.create_session({"dup", 0, 0, "", "", "", "", 0}), Catch::Contains("--resume dup"));
}

TEST_CASE("session store: sequences are per session and listing is newest first", "[store]") {
  TempDir dir("store");
  SessionStore store((dir.path() / "s.db").string());
  store.create_session({"a", 100, 0, "", "", "", "", 0});
  store.create_session({"b", 200, 0, "", "", "", "", 0});
  CHECK(store.append("a", "x", json::object()) == 1);
  CHECK(store.append("b", "x", json::object()) == 1);
  CHECK(store.append("a", "x", json::object()) == 2);
  auto list = store.list_sessions();
  REQUIRE(list.size() == 2);
  CHECK(list[0].id == "b");
  CHECK(list[1].event_count == 2);
}

TEST_CASE("session store: a process killed after append loses nothing it appended", "[store]") {
  TempDir dir("store");
  const std::string db = (dir.path() / "s.db").string();
  {
    SessionStore store(db);
    store.create_session({"k", 0, 0, "", "", "", "", 0});
  }
  pid_t pid = fork();
  if (pid == 0) {
    SessionStore store(db);
    for (int i = 0; i < 50; ++i) store.append("k", "e", {{"i", i}});
    kill(getpid(), SIGKILL);  // dies without closing the database
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  REQUIRE(WIFSIGNALED(status));
  SessionStore store(db);
  auto events = store.events("k");
  REQUIRE(events.size() == 50);
  CHECK(events.back().data["i"] == 49);
}

TEST_CASE("session store: unwritable home gives a clear error", "[store]") {
  REQUIRE_THROWS_WITH(SessionStore("/proc/nagent-no/such.db"), Catch::Contains("NAGENT_HOME"));
}

TEST_CASE("journal: ops replay recorded results and group events by op", "[store][journal]") {
  TempDir dir("store");
  SessionStore store((dir.path() / "s.db").string());
  store.create_session({"j", 0, 0, "", "", "", "", 0});
  {
    Journal journal(store, "j");
    int seen = 0;
    journal.observe([&](const StoredEvent& e) { seen += e.type == "op_end"; });
    CHECK_FALSE(journal.resuming());
    int op0 = journal.begin_op();
    journal.record("op_end", {{"op", op0}, {"result", {{"ok", true}}}});
    int op1 = journal.begin_op();
    journal.record("model_reply", {{"op", op1}, {"step", 0}});
    CHECK(seen == 1);
  }
  Journal resumed(store, "j", store.events("j"));
  CHECK(resumed.resuming());
  int op0 = resumed.begin_op();
  REQUIRE(resumed.recorded_result(op0));
  CHECK((*resumed.recorded_result(op0))["ok"] == true);
  int op1 = resumed.begin_op();
  CHECK_FALSE(resumed.recorded_result(op1));
  REQUIRE(resumed.replay(op1).size() == 1);
  CHECK(resumed.replay(op1)[0].type == "model_reply");
  CHECK(resumed.replay(resumed.begin_op()).empty());
}
