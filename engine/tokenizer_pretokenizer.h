// tokenizer.json "pre_tokenizer": splits each normalized piece into the words that the
// model tokenizes one by one. Supported: Split (String/Regex pattern, every behavior,
// invert), ByteLevel, Metaspace, Digits, Whitespace, WhitespaceSplit and Sequence.
//
// ByteLevel is not applied as a text rewrite: when it is the last step, byte_level() is
// true and the model works directly on the raw bytes of each word (its vocabulary is keyed
// by the bytes each token stands for), which is the same mapping without the copying.
#pragma once

#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/tokenizer_regex.h"

namespace nagent::tok {

struct Piece {
  std::string_view text;
  bool at_start = false;  // begins at offset 0 of the original input (Metaspace "first")
};

// Owns the text of pieces that a step had to rewrite; views into it stay valid.
using PieceArena = std::deque<std::string>;

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

class PreTokenizer {
 public:
  static PreTokenizer from_json(const nlohmann::json& j);  // null: no splitting
  void pre_tokenize(std::vector<Piece>& pieces, PieceArena& arena) const;
  bool byte_level() const { return byte_level_; }

 private:
  enum class Kind { Split, ByteLevelPrefix, Metaspace };
  enum class Prepend { Always, First, Never };
  struct Step {
    Kind kind;
    Pattern pattern;
    SplitBehavior behavior = SplitBehavior::Isolated;
    bool invert = false;
    std::string replacement;  // Metaspace
    Prepend prepend = Prepend::Always;
    bool split = true;
  };
  void add(const nlohmann::json& j, bool last);
  static void split(const Step& step, std::vector<Piece>& pieces);
  std::vector<Step> steps_;
  bool byte_level_ = false;
};

}  // namespace nagent::tok
