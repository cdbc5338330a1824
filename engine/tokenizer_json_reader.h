// Reads tokenizer.json without building a JSON tree for its two big parts: model.vocab and
// model.merges (hundreds of thousands of entries) stream straight into flat vectors, the
// rest becomes an ordinary JSON tree. Loading is several times faster than a full parse.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace nagent::tok {

struct TokenizerFile {
  nlohmann::json config;  // everything except model.vocab and model.merges
  std::vector<std::pair<std::string, int32_t>> vocab;
  std::vector<std::pair<std::string, std::string>> merges;  // "a b" strings split at the space
};

// Throws std::runtime_error on invalid JSON or a malformed vocab/merges entry.
TokenizerFile read_tokenizer_json(std::string_view text);
// The same parts from an already parsed tokenizer.json.
TokenizerFile split_tokenizer_json(const nlohmann::json& j);

}  // namespace nagent::tok
