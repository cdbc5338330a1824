// When edit_file's old_str is not in the file: the regions the model most likely meant,
// so its next call can copy the real text instead of guessing again.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace nagent {

struct EditCandidate {
  size_t first_line = 0;  // 1-based, inclusive
  size_t last_line = 0;
  double similarity = 0;  // 1.0: equal once whitespace is ignored
  std::string reason;     // "matches if whitespace is ignored", "73% similar lines"
};

// Best regions first, at most `limit`, none overlapping. Regions that equal old_str once
// whitespace (indentation, trailing spaces, line breaks) is ignored come first; then
// windows of old_str's line count ranked by per-line similarity (bigram overlap), kept
// when at least half similar.
std::vector<EditCandidate> find_edit_candidates(std::string_view file, std::string_view old_str, size_t limit = 3);

}  // namespace nagent
