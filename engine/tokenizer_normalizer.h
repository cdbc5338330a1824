// tokenizer.json "normalizer": applied to each piece of input text that is not an added
// token matched before normalization. Supported: NFC, NFD, NFKC, NFKD, Lowercase, Replace,
// Prepend, Strip and Sequence of these.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/tokenizer_regex.h"
#include "engine/unicode.h"

namespace nagent::tok {

class Normalizer {
 public:
  // null JSON gives the identity; an unknown type throws naming it.
  static Normalizer from_json(const nlohmann::json& j);
  std::string normalize(std::string_view text) const;
  bool empty() const { return steps_.empty(); }

 private:
  enum class Kind { Unicode, Lowercase, Replace, Prepend, Strip };
  struct Step {
    Kind kind;
    unicode::NormalForm form = unicode::NormalForm::NFC;
    Pattern pattern;
    std::string content;  // Replace: replacement; Prepend: prefix
    bool strip_left = false, strip_right = false;
  };
  void add(const nlohmann::json& j);
  std::vector<Step> steps_;
};

}  // namespace nagent::tok
