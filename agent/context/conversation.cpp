#include "agent/context/conversation.h"

#include <algorithm>
#include <cmath>

namespace nagent {

json Compaction::to_json() const {
  json elided_json = json::array();
  for (const auto& [index, text] : elided) elided_json.push_back({index, text});
  return {{"step", step},
          {"trigger", trigger},
          {"reasoning_before", reasoning_before},
          {"elided", elided_json},
          {"span", {span_begin, span_end}},
          {"summary", summary},
          {"summary_source", summary_source},
          {"tokens_before", tokens_before},
          {"tokens_after", tokens_after},
          {"window", window},
          {"summary_usage", {{"prompt_tokens", summary_prompt_tokens}, {"completion_tokens", summary_completion_tokens}}}};
}

Compaction Compaction::from_json(const json& j) {
  Compaction c;
  c.step = j.value("step", 0);
  c.trigger = j.value("trigger", "");
  c.reasoning_before = j.value("reasoning_before", size_t(0));
  for (const auto& e : j.value("elided", json::array())) c.elided.emplace_back(e.at(0).get<size_t>(), e.at(1).get<std::string>());
  const json span = j.value("span", json::array({0, 0}));
  c.span_begin = span.at(0).get<size_t>();
  c.span_end = span.at(1).get<size_t>();
  c.summary = j.value("summary", "");
  c.summary_source = j.value("summary_source", "");
  c.tokens_before = j.value("tokens_before", int64_t(0));
  c.tokens_after = j.value("tokens_after", int64_t(0));
  c.window = j.value("window", int64_t(0));
  const json usage = j.value("summary_usage", json::object());
  c.summary_prompt_tokens = usage.value("prompt_tokens", int64_t(0));
  c.summary_completion_tokens = usage.value("completion_tokens", int64_t(0));
  return c;
}

Conversation::Conversation(std::vector<Message>& messages, TokenCounter& counter, std::string fixed_text)
    : messages_(messages),
      counter_(counter),
      fixed_text_(std::move(fixed_text)),
      fixed_tokens_(counter_.count_text(fixed_text_)) {
  messages_.clear();
}

void Conversation::append(Message m, int step, bool pinned, std::string artifact) {
  ContextEntry e{counter_.count(m), step, pinned, std::move(artifact)};
  sum_ += e.tokens;
  entries_.push_back(std::move(e));
  messages_.push_back(std::move(m));
}

int64_t Conversation::tokens() const {
  if (measured_count_ == 0) return fixed_tokens_ + sum_;
  return measured_tokens_ + (sum_ - sum_at_measure_);
}

void Conversation::measured(int64_t prompt_tokens) {
  if (prompt_tokens <= 0) return;
  if (!calibrated_ && !counter_.exact()) {
    size_t chars = fixed_text_.size();
    for (const auto& m : messages_) chars += TokenCounter::chars_of(m);
    counter_.calibrate(chars, prompt_tokens);
    fixed_tokens_ = std::min(counter_.count_text(fixed_text_), prompt_tokens);
    calibrated_ = true;
  }
  // The messages since the last report take the reported difference, in proportion.
  const size_t from = measured_count_;
  const int64_t before = from == 0 ? fixed_tokens_ : measured_tokens_;
  const int64_t share = prompt_tokens - before;
  int64_t estimated = 0;
  for (size_t i = from; i < entries_.size(); ++i) estimated += entries_[i].tokens;
  if (share > 0 && estimated > 0) {
    int64_t assigned = 0;
    for (size_t i = from; i < entries_.size(); ++i) {
      const int64_t t = i + 1 == entries_.size()
                            ? share - assigned
                            : int64_t(std::llround(double(entries_[i].tokens) * double(share) / double(estimated)));
      sum_ += t - entries_[i].tokens;
      entries_[i].tokens = t;
      assigned += t;
    }
  }
  measured_count_ = entries_.size();
  measured_tokens_ = prompt_tokens;
  sum_at_measure_ = sum_;
}

void Conversation::apply(const Compaction& c) {
  auto set_tokens = [&](size_t i, int64_t t) {
    sum_ += t - entries_[i].tokens;
    entries_[i].tokens = t;
  };
  size_t first = SIZE_MAX;
  for (size_t i = 0; i < std::min(c.reasoning_before, messages_.size()); ++i)
    if (messages_[i].role == "assistant" && !messages_[i].reasoning.empty()) {
      Message before = messages_[i];
      messages_[i].reasoning.clear();
      set_tokens(i, counter_.recount(entries_[i].tokens, before, messages_[i]));
      first = std::min(first, i);
    }
  for (const auto& [index, text] : c.elided) {
    if (index >= messages_.size()) continue;
    Message before = messages_[index];
    messages_[index].content = text;
    set_tokens(index, counter_.recount(entries_[index].tokens, before, messages_[index]));
    first = std::min(first, index);
  }
  if (c.summarizes() && c.span_end <= messages_.size()) {
    for (size_t i = c.span_begin; i < c.span_end; ++i) sum_ -= entries_[i].tokens;
    messages_.erase(messages_.begin() + long(c.span_begin), messages_.begin() + long(c.span_end));
    entries_.erase(entries_.begin() + long(c.span_begin), entries_.begin() + long(c.span_end));
    messages_.insert(messages_.begin() + long(c.span_begin), Message::user(c.summary));
    entries_.insert(entries_.begin() + long(c.span_begin), ContextEntry{0, -1, false, {}});
    set_tokens(c.span_begin, counter_.count(messages_[c.span_begin]));
    first = std::min(first, c.span_begin);
  }
  first_changed_ = std::min(first_changed_, first);
  // The prefix changed: the next report measures anew (from the schemas up).
  measured_count_ = 0;
  measured_tokens_ = 0;
  sum_at_measure_ = 0;
}

size_t Conversation::stable_prefix() const { return std::min(first_changed_, sent_count_); }

void Conversation::sent() {
  first_changed_ = SIZE_MAX;
  sent_count_ = messages_.size();
}

}  // namespace nagent
