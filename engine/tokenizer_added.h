// Added tokens of tokenizer.json ("added_tokens"): special and ordinary tokens that are
// cut out of the input before normalization and pre-tokenization, matched leftmost-longest
// as Hugging Face does, honouring lstrip / rstrip / single_word / normalized.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

namespace nagent::tok {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;
  bool lstrip = false, rstrip = false, single_word = false;
  bool normalized = false;
};

// A run of input: either an added token (id >= 0) or text for the normal pipeline.
struct Segment {
  std::string_view text;
  int32_t id = -1;
  size_t offset = 0;  // byte offset of text within the string that was split
};

class AddedVocabulary {
 public:
  static AddedVocabulary from_json(const nlohmann::json& added_tokens);
  const std::vector<AddedToken>& tokens() const { return tokens_; }
  const AddedToken* find(int32_t id) const;
  const AddedToken* find(std::string_view content) const;

  // Splits text on the tokens with normalized == want_normalized.
  void split(std::string_view text, bool want_normalized, std::vector<Segment>& out) const;

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> children;  // sorted by byte
    int32_t token = -1;                                       // index into tokens_
  };
  struct Trie {
    std::vector<Node> nodes{Node{}};
    bool first_byte[256] = {};
    void insert(const std::string& s, int32_t token);
    // Longest token starting at text[pos] (index into tokens_, and its length), or -1.
    int32_t longest(std::string_view text, size_t pos, size_t& length) const;
  };
  std::vector<AddedToken> tokens_;
  std::unordered_map<int32_t, size_t> by_id_;
  Trie raw_trie_, normalized_trie_;
};

}  // namespace nagent::tok
