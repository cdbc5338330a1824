#include "engine/tokenizer_bpe.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "engine/unicode.h"

namespace nagent::tok {

size_t StringHash::operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }

void TokenMap::reserve(size_t n) {
  size_t slots = 16;
  while (slots < n * 2) slots <<= 1;
  if (slots > slots_.size()) rehash(slots);
}

void TokenMap::rehash(size_t slots) {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(slots, Slot{});
  const size_t mask = slots - 1;
  for (const Slot& s : old) {
    if (s.id < 0) continue;
    size_t i = s.hash & mask;
    while (slots_[i].id >= 0) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

void TokenMap::emplace(std::string_view key, int32_t id) {
  if ((size_ + 1) * 2 > slots_.size()) rehash(std::max<size_t>(16, slots_.size() * 2));
  const uint64_t h = StringHash{}(key);
  const size_t mask = slots_.size() - 1;
  size_t i = h & mask;
  for (; slots_[i].id >= 0; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.hash == h && std::string_view(arena_).substr(s.offset, s.length) == key) return;
  }
  slots_[i] = {h, static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(key.size()), id};
  arena_.append(key);
  ++size_;
}

int32_t TokenMap::find(std::string_view key) const {
  if (slots_.empty()) return -1;
  const uint64_t h = StringHash{}(key);
  const size_t mask = slots_.size() - 1;
  for (size_t i = h & mask; slots_[i].id >= 0; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.hash == h && s.length == key.size() && std::memcmp(arena_.data() + s.offset, key.data(), key.size()) == 0)
      return s.id;
  }
  return -1;
}

namespace {
constexpr uint64_t kEmpty = ~uint64_t{0};
constexpr size_t kMaxCachedWordBytes = 256;
constexpr size_t kMaxCachedWords = 1 << 18;

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}
size_t slot_of(uint64_t key, uint64_t mask) { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 17) & mask; }

// The raw bytes a byte-level vocabulary string stands for; false if a character of it is
// not one of the 256 mapped characters.
bool unmap_byte_level(std::string_view token, std::string& bytes) {
  bytes.clear();
  for (size_t i = 0; i < token.size();) {
    if (!unicode::valid_sequence_length(token, i)) return false;
    int b = unicode::unicode_to_byte(unicode::next_code_point(token, i));
    if (b < 0) return false;
    bytes += static_cast<char>(b);
  }
  return true;
}
}  // namespace

BpeModel BpeModel::from_parts(const nlohmann::json& model, const std::vector<std::pair<std::string, int32_t>>& vocab,
                              const std::vector<std::pair<std::string, std::string>>& merges, bool byte_level) {
  const std::string type = model.value("type", "BPE");
  if (type != "BPE") throw std::runtime_error("tokenizer.json: unsupported model type '" + type + "' (only BPE)");
  if (vocab.empty()) throw std::runtime_error("tokenizer.json: model.vocab is missing or empty");
  BpeModel m;
  m.byte_level_ = byte_level;
  auto str_or_empty = [&](const char* key) {
    return model.contains(key) && model[key].is_string() ? model[key].get<std::string>() : std::string();
  };
  m.prefix_ = str_or_empty("continuing_subword_prefix");
  m.suffix_ = str_or_empty("end_of_word_suffix");
  if (byte_level && (!m.prefix_.empty() || !m.suffix_.empty()))
    throw std::runtime_error("tokenizer.json: continuing_subword_prefix/end_of_word_suffix with ByteLevel is not supported");
  m.byte_fallback_ = model.value("byte_fallback", false);
  m.ignore_merges_ = model.value("ignore_merges", false);
  m.fuse_unk_ = model.value("fuse_unk", false);

  m.vocab_.reserve(vocab.size());
  std::string bytes;
  for (const auto& [token, id] : vocab) {
    if (static_cast<size_t>(id) >= m.id_to_token_.size()) m.id_to_token_.resize(id + 1);
    m.id_to_token_[id] = token;
    if (byte_level && unmap_byte_level(token, bytes)) m.vocab_.emplace(bytes, id);
    else m.vocab_.emplace(token, id);
  }
  std::fill(std::begin(m.byte_ids_), std::end(m.byte_ids_), -1);
  std::fill(std::begin(m.byte_fallback_ids_), std::end(m.byte_fallback_ids_), -1);
  for (int b = 0; b < 256; ++b) {
    if (byte_level) m.byte_ids_[b] = m.token_to_id(std::string(1, static_cast<char>(b)));
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    m.byte_fallback_ids_[b] = m.vocab_.find(name);
  }
  std::string unk = str_or_empty("unk_token");
  if (!unk.empty()) {
    m.unk_id_ = m.vocab_.find(unk);
    if (m.unk_id_ < 0) throw std::runtime_error("tokenizer.json: unk_token '" + unk + "' is not in the vocabulary");
  }

  size_t capacity = 16;
  while (capacity < merges.size() * 2) capacity <<= 1;
  m.merge_keys_.assign(capacity, kEmpty);
  m.merge_values_.assign(capacity, 0);
  m.merge_mask_ = capacity - 1;
  auto lookup = [&](const std::string& token) -> int32_t {
    if (byte_level && unmap_byte_level(token, bytes)) return m.token_to_id(bytes);
    return m.token_to_id(token);
  };
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    int32_t left = lookup(a), right = lookup(b);
    std::string merged = a + (b.compare(0, m.prefix_.size(), m.prefix_) == 0 ? b.substr(m.prefix_.size()) : b);
    int32_t id = lookup(merged);
    if (left < 0 || right < 0 || id < 0)
      throw std::runtime_error("tokenizer.json: merge " + std::to_string(rank) + " ('" + a + "', '" + b +
                               "') uses a token missing from the vocabulary");
    uint64_t key = pair_key(left, right);
    size_t slot = slot_of(key, m.merge_mask_);
    while (m.merge_keys_[slot] != kEmpty && m.merge_keys_[slot] != key) slot = (slot + 1) & m.merge_mask_;
    m.merge_keys_[slot] = key;  // a repeated pair keeps the later rank, as Hugging Face's map does
    m.merge_values_[slot] = (static_cast<uint64_t>(rank) << 32) | static_cast<uint32_t>(id);
  }
  return m;
}

int32_t BpeModel::token_to_id(std::string_view token) const {
  return vocab_.find(token);
}

int32_t BpeModel::written_token_to_id(std::string_view token) const {
  std::string bytes;
  int32_t id = byte_level_ && unmap_byte_level(token, bytes) ? token_to_id(bytes) : token_to_id(token);
  return id >= 0 && id_to_token_[id] == token ? id : -1;
}

int64_t BpeModel::find_merge(int32_t left, int32_t right) const {
  uint64_t key = pair_key(left, right);
  for (size_t slot = slot_of(key, merge_mask_);; slot = (slot + 1) & merge_mask_) {
    if (merge_keys_[slot] == key) return static_cast<int64_t>(merge_values_[slot]);
    if (merge_keys_[slot] == kEmpty) return -1;
  }
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    int32_t id = vocab_.find(word);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  const bool cacheable = word.size() <= kMaxCachedWordBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    auto it = cache_->words.find(word);
    if (it != cache_->words.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  size_t before = out.size();
  merge_word(word, out);
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    if (cache_->words.size() >= kMaxCachedWords) cache_->words.clear();
    cache_->words.emplace(std::string(word), std::vector<int32_t>(out.begin() + before, out.end()));
  }
}

void BpeModel::merge_word(std::string_view word, std::vector<int32_t>& out) const {
  struct Symbol { int32_t id; int32_t prev; int32_t next; bool removed; };
  thread_local std::vector<Symbol> symbols;
  symbols.clear();
  auto add = [&](int32_t id) {
    int32_t index = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, index - 1, index + 1, false});
  };

  if (byte_level_) {
    for (unsigned char b : word) {
      if (byte_ids_[b] >= 0) add(byte_ids_[b]);
      else if (unk_id_ >= 0 && !(fuse_unk_ && !symbols.empty() && symbols.back().id == unk_id_)) add(unk_id_);
    }
  } else {
    // Unknown characters accumulate into one pending <unk> when fuse_unk is set.
    bool pending_unk = false;
    std::string piece;
    for (size_t i = 0; i < word.size();) {
      size_t start = i;
      i += std::max<size_t>(1, unicode::valid_sequence_length(word, i));
      std::string_view ch = word.substr(start, i - start);
      piece.clear();
      if (start != 0) piece += prefix_;
      piece += ch;
      if (i == word.size()) piece += suffix_;
      int32_t id = token_to_id(piece);
      if (id >= 0) {
        if (pending_unk) { add(unk_id_); pending_unk = false; }
        add(id);
        continue;
      }
      if (byte_fallback_) {
        bool all = true;
        for (unsigned char b : piece) all = all && byte_fallback_ids_[b] >= 0;
        if (all) {
          for (unsigned char b : piece) add(byte_fallback_ids_[b]);
          continue;
        }
      }
      if (unk_id_ >= 0) {
        if (pending_unk && !fuse_unk_) add(unk_id_);
        pending_unk = true;
      }
    }
    if (pending_unk) add(unk_id_);
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;

  struct Merge { uint32_t rank; int32_t pos; int32_t new_id; };
  auto later = [](const Merge& a, const Merge& b) { return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos; };
  thread_local std::vector<Merge> heap;
  heap.clear();
  for (size_t i = 0; i + 1 < symbols.size(); ++i) {
    int64_t m = find_merge(symbols[i].id, symbols[i + 1].id);
    if (m >= 0) heap.push_back({static_cast<uint32_t>(m >> 32), static_cast<int32_t>(i), static_cast<int32_t>(m & 0xFFFFFFFF)});
  }
  std::make_heap(heap.begin(), heap.end(), later);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    Merge top = heap.back();
    heap.pop_back();
    Symbol& left = symbols[top.pos];
    if (left.removed || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    int64_t current = find_merge(left.id, right.id);
    if (current < 0 || static_cast<int32_t>(current & 0xFFFFFFFF) != top.new_id) continue;  // stale entry
    left.id = top.new_id;
    right.removed = true;
    left.next = right.next;
    if (left.next >= 0) symbols[left.next].prev = top.pos;
    if (left.prev >= 0) {
      int64_t m = find_merge(symbols[left.prev].id, left.id);
      if (m >= 0) {
        heap.push_back({static_cast<uint32_t>(m >> 32), left.prev, static_cast<int32_t>(m & 0xFFFFFFFF)});
        std::push_heap(heap.begin(), heap.end(), later);
      }
    }
    if (left.next >= 0) {
      int64_t m = find_merge(left.id, symbols[left.next].id);
      if (m >= 0) {
        heap.push_back({static_cast<uint32_t>(m >> 32), top.pos, static_cast<int32_t>(m & 0xFFFFFFFF)});
        std::push_heap(heap.begin(), heap.end(), later);
      }
    }
  }
  for (const Symbol& s : symbols) if (!s.removed) out.push_back(s.id);
}

}  // namespace nagent::tok
