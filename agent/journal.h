// Journal: the write-ahead log of one session. Every event is appended to the store (and
// committed) before observers (progress display, --json output) see it.
//
// Durable replay: the recipe's tool calls and agent runs are numbered "ops" in call order.
// When a session is resumed, the recipe runs again from the top; an op whose end was
// recorded returns its recorded result without running again, and the first unfinished op
// continues from its recorded events (an agent resumes its conversation). So a resumed run
// never repeats a side effect that was recorded as done.
//
// Ops a recipe starts while an agent runs (a Lua tool handler's sub-agent, a hook's tool
// call) are nested: numbered apart (from kNestedOpBase, never reused across runs) so the
// top-level numbering stays the same on resume. They are not replayed: the enclosing tool
// call's recorded result is what counts, and an unfinished one runs again from the start.
//
// record() and begin_op() may be called from several threads (concurrent sub-agents).
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/context/artifact_store.h"
#include "agent/session_store.h"

namespace nagent {

class Journal {
 public:
  using Observer = std::function<void(const StoredEvent&)>;

  // history: the session's stored events when resuming, empty for a new session.
  Journal(SessionStore& store, std::string session_id, std::vector<StoredEvent> history = {});

  const std::string& session_id() const { return session_id_; }
  SessionStore& store() { return store_; }
  // The session's stored tool outputs (same database, own connection).
  ArtifactStore& artifacts() { return artifacts_; }
  void observe(Observer observer) { observers_.push_back(std::move(observer)); }

  // Appends an event (committed) and tells the observers; returns its seq.
  int64_t record(const std::string& type, json data);

  // Durable ops. begin_op() returns the next op number; if this op was recorded before,
  // its earlier events (in order) are in replay(op).
  int begin_op();
  int begin_nested_op();
  static constexpr int kNestedOpBase = 1'000'000'000;
  const std::vector<StoredEvent>& replay(int op) const;
  // The recorded "op_end" result of op, if it finished in an earlier run.
  std::optional<json> recorded_result(int op) const;
  bool resuming() const { return !ops_.empty(); }

  // The first event of a type in the history (e.g. "session_start"), if any.
  std::optional<StoredEvent> first_in_history(const std::string& type) const;

 private:
  SessionStore& store_;
  std::string session_id_;
  ArtifactStore artifacts_;
  std::vector<StoredEvent> history_;
  std::map<int, std::vector<StoredEvent>> ops_;  // recorded events per op (from history)
  std::vector<Observer> observers_;
  int next_op_ = 0;
  int next_nested_op_ = kNestedOpBase;
  std::mutex mutex_;
};

}  // namespace nagent
