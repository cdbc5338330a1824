// UTF-8 helpers for the tokenizer: validation with U+FFFD repair, code point iteration,
// incomplete-tail detection for streaming, the GPT-2 byte<->unicode mapping of byte-level
// BPE, and Unicode normalization forms (through ICU).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace nagent::unicode {

// Length in bytes of the well-formed UTF-8 sequence at s[i], or 0 when the bytes there do
// not start one (invalid lead, bad continuation, overlong, surrogate, > U+10FFFF, or cut
// off by the end of s).
size_t valid_sequence_length(std::string_view s, size_t i);

// Decodes the code point at s[i] (which must start a valid sequence) and advances i.
char32_t next_code_point(std::string_view s, size_t& i);

void append_utf8(std::string& out, char32_t cp);

// Replaces every maximal ill-formed subpart with U+FFFD (the Unicode "substitution of
// maximal subparts" practice, which Python's bytes.decode(errors="replace"), WHATWG's
// TextDecoder and Rust's String::from_utf8_lossy all follow).
std::string to_valid_utf8(std::string_view s);
bool is_valid_utf8(std::string_view s);

// Number of bytes at the end of s that are the start of a UTF-8 sequence still missing its
// continuation bytes (0..3): a streaming decoder holds them back until the rest arrives.
size_t incomplete_utf8_tail(std::string_view s);

// Rust char::is_whitespace (the Unicode White_Space property).
bool is_whitespace(char32_t cp);
// Letter or number (Rust char::is_alphanumeric), for added tokens' single_word rule.
bool is_alphanumeric(char32_t cp);

// GPT-2 byte-level mapping: every byte value to a printable code point, as UTF-8.
const std::string& byte_to_unicode(uint8_t b);
// Inverse: code point to byte, or -1 when the code point is not one of the 256.
int unicode_to_byte(char32_t cp);

enum class NormalForm { NFC, NFD, NFKC, NFKD };
// Normalizes valid UTF-8 text; pure ASCII is returned unchanged without calling ICU.
std::string normalize(std::string_view s, NormalForm form);

}  // namespace nagent::unicode
