// Parser for unified diffs as `git diff` (and `diff -u`) write them: file headers with
// a/ b/ prefixes, /dev/null for created and deleted files, git's extended headers (modes,
// renames), hunks, and "\ No newline at end of file". Applying is apply_patch's job.
#pragma once

#include <sys/types.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace nagent {

struct PatchError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct HunkLine {
  char kind;         // ' ' context, '-' removed, '+' added
  std::string text;  // without the kind character and the '\n'
};

struct Hunk {
  size_t old_start = 0, old_count = 0;  // as stated in the @@ header
  size_t new_start = 0, new_count = 0;
  std::string header;                   // "@@ -10,4 +10,5 @@", for messages
  std::vector<HunkLine> lines;
  bool old_no_newline = false;          // the old side's last line has no '\n'
  bool new_no_newline = false;          // the new side's last line has no '\n'
};

struct FilePatch {
  std::string old_path;  // prefixes removed; empty when the file is created
  std::string new_path;  // empty when the file is deleted
  bool rename = false;   // git "rename from/to" (the old path goes away)
  std::optional<mode_t> new_mode;  // permission bits from "new mode" / "new file mode"
  std::vector<Hunk> hunks;
  bool created() const { return old_path.empty(); }
  bool deleted() const { return new_path.empty(); }
};

// Parses every file section of `patch`. Text before the first header and between
// sections (a commit message, a ``` fence) is ignored. @@ line counts are checked
// loosely: a hunk runs as far as its lines look like hunk lines, because models often
// miscount and the content check when applying is what guarantees correctness. Throws
// PatchError naming the patch line for malformed input (bad @@ header, binary patch, no
// file sections at all).
std::vector<FilePatch> parse_unified_diff(std::string_view patch);

}  // namespace nagent
