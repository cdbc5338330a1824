// cap_output: what the model sees of a long output. The middle goes, since the start
// (what ran) and the end (how it ended) carry the information; the note says exactly
// how much went so the model can ask for it another way.
#include <algorithm>

#include "tools/tool.h"

namespace nagent {

namespace {

// A cut moves to a line boundary when one lies within this many bytes.
constexpr size_t kLineSnap = 256;

bool utf8_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

}  // namespace

std::string cap_output(const std::string& text, uint64_t limit_bytes, double head_share) {
  if (text.size() <= limit_bytes) return text;
  head_share = std::clamp(head_share, 0.0, 1.0);
  size_t head = static_cast<size_t>(static_cast<double>(limit_bytes) * head_share);
  size_t tail_start = text.size() - (limit_bytes - head);

  // Head: end just after a newline if one is close; tail: start just after one.
  if (head > 0) {
    size_t nl = text.rfind('\n', head - 1);
    if (nl != std::string::npos && head - (nl + 1) <= kLineSnap) head = nl + 1;
  }
  size_t nl = text.find('\n', tail_start == 0 ? 0 : tail_start - 1);
  if (nl != std::string::npos && nl + 1 - tail_start <= kLineSnap && nl + 1 <= text.size()) {
    tail_start = std::max(tail_start, nl + 1);
  }
  while (head > 0 && utf8_continuation(text[head])) --head;
  while (tail_start < text.size() && utf8_continuation(text[tail_start])) ++tail_start;
  if (tail_start < head) tail_start = head;

  size_t omitted = tail_start - head;
  size_t lines = static_cast<size_t>(std::count(text.begin() + head, text.begin() + tail_start, '\n'));
  std::string note = "[... " + std::to_string(omitted) + " bytes / " + std::to_string(lines) + " lines omitted ...]";
  std::string out;
  out.reserve(head + note.size() + 2 + text.size() - tail_start);
  out.append(text, 0, head);
  if (head > 0 && text[head - 1] != '\n') out += '\n';
  out += note;
  out += '\n';
  out.append(text, tail_start, std::string::npos);
  return out;
}

}  // namespace nagent
