#include "agent/journal.h"

#include <chrono>

namespace nagent {

Journal::Journal(SessionStore& store, std::string session_id, std::vector<StoredEvent> history)
    : store_(store),
      session_id_(std::move(session_id)),
      artifacts_(store.path(), store.durability()),
      history_(std::move(history)) {
  for (const auto& e : history_) {
    if (e.data.is_object() && e.data.contains("op") && e.data["op"].is_number_integer())
      ops_[e.data["op"].get<int>()].push_back(e);
  }
  if (!ops_.empty() && ops_.rbegin()->first >= next_nested_op_) next_nested_op_ = ops_.rbegin()->first + 1;
}

int64_t Journal::record(const std::string& type, json data) {
  std::lock_guard lock(mutex_);
  int64_t seq = store_.append(session_id_, type, data);
  if (!observers_.empty()) {
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    StoredEvent e{seq, now, type, std::move(data)};
    for (auto& o : observers_) o(e);
  }
  return seq;
}

int Journal::begin_op() {
  std::lock_guard lock(mutex_);
  return next_op_++;
}

int Journal::begin_nested_op() {
  std::lock_guard lock(mutex_);
  return next_nested_op_++;
}

const std::vector<StoredEvent>& Journal::replay(int op) const {
  static const std::vector<StoredEvent> none;
  auto it = ops_.find(op);
  return it == ops_.end() ? none : it->second;
}

std::optional<json> Journal::recorded_result(int op) const {
  for (const auto& e : replay(op))
    if (e.type == "op_end") return e.data.value("result", json::object());
  return std::nullopt;
}

std::optional<StoredEvent> Journal::first_in_history(const std::string& type) const {
  for (const auto& e : history_)
    if (e.type == type) return e;
  return std::nullopt;
}

}  // namespace nagent
