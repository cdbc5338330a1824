// Hugging Face tokenizer.json (+ tokenizer_config.json) for the embedded engine: BPE with
// byte-level or SentencePiece-style (Metaspace, byte fallback) pre-tokenization, added and
// special tokens, normalizers, post-processor and decoder. encode() gives the ids that
// Hugging Face `tokenizers` gives for the same file and text; decode() the same string.
//
//   auto tok = nagent::Tokenizer::from_model_dir("/models/nemotron3-nano");
//   std::vector<int32_t> ids = tok.encode(prompt);
//   nagent::StreamDecoder out(tok);  for (id : generated) std::cout << out.push(id);
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace nagent {

namespace tok { struct TokenizerFile; }

class Tokenizer {
 public:
  // Throws std::runtime_error naming the file and what in it is wrong or unsupported.
  static Tokenizer from_file(const std::string& tokenizer_json_path);
  // DIR/tokenizer.json plus DIR/tokenizer_config.json when present.
  static Tokenizer from_model_dir(const std::string& dir);
  static Tokenizer from_json(const nlohmann::json& tokenizer_json, const nlohmann::json& config = nullptr);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Text to ids. Input that is not valid UTF-8 is first repaired (each maximal ill-formed
  // subpart becomes U+FFFD, as Python's errors="replace" does). add_special_tokens applies
  // the post-processor (e.g. a BOS token), like tokenizers' encode(..., add_special_tokens).
  // Added/special tokens written in the text are always recognised. Thread-safe.
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = false) const;

  // Ids to text, as tokenizers' decode(ids, skip_special_tokens). Unknown ids throw.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;
  // Same, but bytes that do not form UTF-8 are kept as they are (for StreamDecoder).
  std::string decode_bytes(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  size_t vocab_size() const;  // one past the largest id
  std::optional<std::string> id_to_token(int32_t id) const;
  std::optional<int32_t> token_to_id(std::string_view token) const;  // added tokens included
  bool is_special(int32_t id) const;

  // From tokenizer_config.json (empty / nullopt when absent).
  std::optional<int32_t> bos_id() const;
  std::optional<int32_t> eos_id() const;
  const std::string& chat_template() const;

 private:
  Tokenizer();
  static Tokenizer from_parts(tok::TokenizerFile file, const nlohmann::json& config);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Turns generated ids into text piece by piece without ever emitting part of a UTF-8
// character: bytes of an unfinished character are held back until the rest arrives.
// The concatenation of push() results plus finish() equals decode() of all ids for any
// ids that decode to valid UTF-8.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = false);
  std::string push(int32_t id);
  // Flushes what is still held back (an unfinished character becomes U+FFFD).
  std::string finish();

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  std::vector<int32_t> window_;  // ids since the last point where all text was emitted (+1 of context)
  size_t window_consumed_ = 0;    // bytes of decode_bytes(window_) already taken into pending_/out
  std::string pending_;           // bytes of an unfinished character
};

}  // namespace nagent
