// The BPE model of tokenizer.json: vocabulary, ranked merges, byte fallback, unknown
// token, ignore_merges, continuing_subword_prefix / end_of_word_suffix. Merging follows
// Hugging Face tokenizers exactly (a heap of candidate pairs ordered by rank then position,
// stale entries skipped when the pair at that position no longer forms the same token).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

namespace nagent::tok {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept;
};

// String -> id table: open addressing over one byte arena, so a lookup costs about one
// cache miss where a node-based map chases pointers (loading a 262k-token vocabulary with
// 515k merges is mostly these lookups).
class TokenMap {
 public:
  void reserve(size_t n);
  void emplace(std::string_view key, int32_t id);  // a repeated key keeps its first id
  int32_t find(std::string_view key) const;         // -1 when absent

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t offset = 0, length = 0;
    int32_t id = -1;  // -1: empty
  };
  void rehash(size_t slots);
  std::vector<Slot> slots_;
  std::string arena_;
  size_t size_ = 0;
};

class BpeModel {
 public:
  // byte_level: words arrive as raw bytes (see PreTokenizer::byte_level) and vocabulary
  // strings are read through the GPT-2 byte-to-unicode mapping.
  // model: tokenizer.json's "model" object (its vocab and merges, if still there, are
  // ignored); vocab and merges as tokenizer_json_reader.h delivers them.
  static BpeModel from_parts(const nlohmann::json& model, const std::vector<std::pair<std::string, int32_t>>& vocab,
                             const std::vector<std::pair<std::string, std::string>>& merges, bool byte_level);

  // Appends the ids of one pre-tokenized word. Thread-safe.
  void tokenize(std::string_view word, std::vector<int32_t>& out) const;

  // Model vocabulary as written in tokenizer.json (ids without a token give "").
  const std::vector<std::string>& id_to_token() const { return id_to_token_; }
  int32_t token_to_id(std::string_view token) const;  // as the model sees words; -1 when absent
  int32_t written_token_to_id(std::string_view token) const;  // as tokenizer.json writes it

 private:
  void merge_word(std::string_view word, std::vector<int32_t>& out) const;
  int64_t find_merge(int32_t left, int32_t right) const;  // rank << 32 | new id, or -1

  TokenMap vocab_;  // keyed by what the model sees: raw bytes when byte_level
  std::vector<std::string> id_to_token_;
  // Open-addressed table: (left id, right id) -> rank << 32 | merged id.
  std::vector<uint64_t> merge_keys_;
  std::vector<uint64_t> merge_values_;
  uint64_t merge_mask_ = 0;
  int32_t byte_ids_[256];  // byte_level: id of each single byte, -1 if absent
  bool byte_level_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  bool fuse_unk_ = false;
  int32_t unk_id_ = -1;
  int32_t byte_fallback_ids_[256];  // <0xNN> tokens
  std::string prefix_, suffix_;  // continuing_subword_prefix, end_of_word_suffix

  // Words seen before (most text repeats its words), bounded.
  struct WordCache {
    std::mutex mutex;
    std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> words;
  };
  std::unique_ptr<WordCache> cache_ = std::make_unique<WordCache>();
};

}  // namespace nagent::tok
