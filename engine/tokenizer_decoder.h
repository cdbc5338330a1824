// tokenizer.json "decoder": turns token strings back into text. Supported: ByteLevel,
// Replace, ByteFallback, Fuse, Strip, Metaspace and Sequence, with Hugging Face's
// decode_chain semantics.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/tokenizer_regex.h"

namespace nagent::tok {

class Decoder {
 public:
  static Decoder from_json(const nlohmann::json& j);  // null: tokens are joined with " "

  // Exact Hugging Face output: bytes that do not form UTF-8 become U+FFFD the way each
  // decoder does it. With raw_bytes, ByteLevel and ByteFallback pass such bytes through
  // untouched instead (for the streaming decoder, which repairs only complete text).
  std::string decode(std::vector<std::string> tokens, bool raw_bytes) const;

 private:
  enum class Kind { ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace };
  struct Step {
    Kind kind;
    Pattern pattern;
    std::string content;  // Replace: replacement; Strip: the character; Metaspace: replacement
    size_t start = 0, stop = 0;
    bool strip_first = true;  // Metaspace: prepend_scheme != never
  };
  void add(const nlohmann::json& j);
  std::vector<Step> steps_;
  bool null_ = true;
};

}  // namespace nagent::tok
