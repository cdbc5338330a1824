#include "engine/tokenizer_added.h"

#include <algorithm>
#include <stdexcept>

#include "engine/unicode.h"

namespace nagent::tok {

AddedVocabulary AddedVocabulary::from_json(const nlohmann::json& added_tokens) {
  AddedVocabulary v;
  if (added_tokens.is_null()) return v;
  for (const auto& t : added_tokens) {
    AddedToken a;
    a.id = t.at("id").get<int32_t>();
    a.content = t.at("content").get<std::string>();
    a.special = t.value("special", false);
    a.lstrip = t.value("lstrip", false);
    a.rstrip = t.value("rstrip", false);
    a.single_word = t.value("single_word", false);
    a.normalized = t.value("normalized", !a.special);
    if (a.content.empty()) throw std::runtime_error("tokenizer.json: added token " + std::to_string(a.id) + " is empty");
    v.tokens_.push_back(std::move(a));
  }
  for (size_t i = 0; i < v.tokens_.size(); ++i) {
    const AddedToken& a = v.tokens_[i];
    (a.normalized ? v.normalized_trie_ : v.raw_trie_).insert(a.content, static_cast<int32_t>(i));
    v.by_id_.emplace(a.id, i);
  }
  return v;
}

const AddedToken* AddedVocabulary::find(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedVocabulary::find(std::string_view content) const {
  for (const auto& t : tokens_) if (t.content == content) return &t;
  return nullptr;
}

void AddedVocabulary::Trie::insert(const std::string& s, int32_t token) {
  int32_t node = 0;
  for (unsigned char c : s) {
    auto& ch = nodes[node].children;
    auto it = std::lower_bound(ch.begin(), ch.end(), std::make_pair(c, int32_t{-1}));
    if (it != ch.end() && it->first == c) {
      node = it->second;
    } else {
      int32_t next = static_cast<int32_t>(nodes.size());
      ch.insert(it, {c, next});
      nodes.emplace_back();  // invalidates ch: not used after this
      node = next;
    }
  }
  if (nodes[node].token < 0) nodes[node].token = token;  // the first definition wins
  first_byte[static_cast<unsigned char>(s[0])] = true;
}

int32_t AddedVocabulary::Trie::longest(std::string_view text, size_t pos, size_t& length) const {
  int32_t node = 0, found = -1;
  for (size_t i = pos; i < text.size(); ++i) {
    const auto& ch = nodes[node].children;
    unsigned char c = static_cast<unsigned char>(text[i]);
    auto it = std::lower_bound(ch.begin(), ch.end(), std::make_pair(c, int32_t{-1}));
    if (it == ch.end() || it->first != c) break;
    node = it->second;
    if (nodes[node].token >= 0) {
      found = nodes[node].token;
      length = i + 1 - pos;
    }
  }
  return found;
}

namespace {
// The code point that ends before byte offset `end` (valid UTF-8 assumed).
char32_t code_point_before(std::string_view s, size_t end, size_t& start) {
  start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
  size_t i = start;
  return unicode::next_code_point(s, i);
}
bool is_word_char(char32_t cp) { return cp == '_' || unicode::is_alphanumeric(cp); }
}  // namespace

void AddedVocabulary::split(std::string_view text, bool want_normalized, std::vector<Segment>& out) const {
  const Trie& trie = want_normalized ? normalized_trie_ : raw_trie_;
  size_t emitted = 0;  // text before this offset is already in out
  size_t pos = 0;
  while (pos < text.size()) {
    if (!trie.first_byte[static_cast<unsigned char>(text[pos])]) { ++pos; continue; }
    size_t length = 0;
    int32_t index = trie.longest(text, pos, length);
    if (index < 0) { ++pos; continue; }
    const AddedToken& tok = tokens_[index];
    size_t start = pos, stop = pos + length;
    if (tok.single_word) {
      size_t unused;
      bool word_before = start > 0 && is_word_char(code_point_before(text, start, unused));
      size_t after = stop;
      bool word_after = stop < text.size() && is_word_char(unicode::next_code_point(text, after));
      if (word_before || word_after) { ++pos; continue; }
    }
    if (tok.lstrip) {
      while (start > emitted) {
        size_t prev;
        if (!unicode::is_whitespace(code_point_before(text, start, prev))) break;
        start = prev;
      }
    }
    if (tok.rstrip) {
      while (stop < text.size()) {
        size_t next = stop;
        if (!unicode::is_whitespace(unicode::next_code_point(text, next))) break;
        stop = next;
      }
    }
    if (emitted < start) out.push_back({text.substr(emitted, start - emitted), -1, emitted});
    out.push_back({text.substr(start, stop - start), tok.id, start});
    emitted = pos = stop;
  }
  if (emitted < text.size()) out.push_back({text.substr(emitted), -1, emitted});
}

}  // namespace nagent::tok
