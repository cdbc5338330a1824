// Directories that list_dir shows but does not descend into and search skips: version
// control metadata, dependency trees and build output, which drown the sources a model
// is looking for. Naming one explicitly as the path still lists / searches it.
#pragma once

#include <string_view>

namespace nagent {

bool is_ignored_dir(std::string_view name);

}  // namespace nagent
