#include "tools/edit_candidates.h"

#include <algorithm>
#include <cctype>
#include <cstdint>

#include "tools/text_file.h"

namespace nagent {

namespace {

constexpr double kMinSimilarity = 0.5;
// Fuzzy ranking compares every window with old_str line by line; beyond this many line
// comparisons (a huge file and a long old_str) only the whitespace pass runs.
constexpr size_t kMaxLineComparisons = 4'000'000;

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Sorted character bigrams of a trimmed line: the Dice coefficient of two such multisets
// is a cheap similarity that tolerates small typos and renamed identifiers.
std::vector<uint16_t> bigrams(std::string_view line) {
  line = trim(line);
  std::vector<uint16_t> out;
  for (size_t i = 0; i + 1 < line.size(); ++i) {
    out.push_back(static_cast<uint16_t>(static_cast<unsigned char>(line[i]) << 8 | static_cast<unsigned char>(line[i + 1])));
  }
  std::sort(out.begin(), out.end());
  return out;
}

double dice(const std::vector<uint16_t>& a, const std::vector<uint16_t>& b) {
  if (a.empty() && b.empty()) return 1.0;
  if (a.empty() || b.empty()) return 0.0;
  size_t i = 0, j = 0, common = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i] == b[j]) {
      ++common, ++i, ++j;
    } else if (a[i] < b[j]) {
      ++i;
    } else {
      ++j;
    }
  }
  return 2.0 * static_cast<double>(common) / static_cast<double>(a.size() + b.size());
}

bool overlaps(const EditCandidate& c, const std::vector<EditCandidate>& chosen) {
  for (const auto& o : chosen) {
    if (c.first_line <= o.last_line && o.first_line <= c.last_line) return true;
  }
  return false;
}

// Every non-whitespace byte of the file, with the line it came from; old_str squeezed the
// same way is then searched as a plain substring.
void whitespace_insensitive(std::string_view file, std::string_view old_str, size_t limit,
                            std::vector<EditCandidate>& out) {
  std::string needle;
  for (char c : old_str) {
    if (!std::isspace(static_cast<unsigned char>(c))) needle += c;
  }
  if (needle.empty()) return;
  std::string hay;
  std::vector<uint32_t> line_of;
  hay.reserve(file.size());
  line_of.reserve(file.size());
  uint32_t line = 1;
  for (char c : file) {
    if (c == '\n') ++line;
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    hay += c;
    line_of.push_back(line);
  }
  for (size_t pos = hay.find(needle); pos != std::string::npos && out.size() < limit; pos = hay.find(needle, pos + 1)) {
    EditCandidate c{line_of[pos], line_of[pos + needle.size() - 1], 1.0, "matches if whitespace is ignored"};
    if (!overlaps(c, out)) out.push_back(c);
  }
}

void similar_lines(std::string_view file, std::string_view old_str, size_t limit, std::vector<EditCandidate>& out) {
  auto file_lines = text_file::split_lines(file);
  auto old_lines = text_file::split_lines(old_str);
  const size_t n = old_lines.size();
  if (n == 0 || file_lines.empty()) return;
  const size_t windows = file_lines.size() >= n ? file_lines.size() - n + 1 : 1;
  if (windows * n > kMaxLineComparisons) return;
  std::vector<std::vector<uint16_t>> fb, ob;
  fb.reserve(file_lines.size());
  for (auto l : file_lines) fb.push_back(bigrams(l));
  for (auto l : old_lines) ob.push_back(bigrams(l));

  std::vector<EditCandidate> scored;
  for (size_t i = 0; i < windows; ++i) {
    double sum = 0;
    size_t m = std::min(n, file_lines.size() - i);
    for (size_t j = 0; j < m; ++j) sum += dice(fb[i + j], ob[j]);
    double score = sum / static_cast<double>(n);
    if (score >= kMinSimilarity) scored.push_back({i + 1, i + m, score, ""});
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const EditCandidate& a, const EditCandidate& b) { return a.similarity > b.similarity; });
  for (auto& c : scored) {
    if (out.size() >= limit) break;
    if (overlaps(c, out)) continue;
    c.reason = std::to_string(static_cast<int>(c.similarity * 100)) + "% similar";
    out.push_back(c);
  }
}

}  // namespace

std::vector<EditCandidate> find_edit_candidates(std::string_view file, std::string_view old_str, size_t limit) {
  std::vector<EditCandidate> out;
  whitespace_insensitive(file, old_str, limit, out);
  if (out.size() < limit) similar_lines(file, old_str, limit, out);
  return out;
}

}  // namespace nagent
