// Shell-style globs for search's `glob` argument: * and ? (not across '/'), [abc] [a-z]
// [!x], ** (any number of directories), {a,b} alternatives.
#pragma once

#include <string_view>

namespace nagent {

// A pattern without '/' is matched against the file name, one with '/' against the whole
// workspace-relative path ("src/**/*.cpp").
bool glob_match(std::string_view pattern, std::string_view relative_path);

}  // namespace nagent
