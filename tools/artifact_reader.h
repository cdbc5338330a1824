// ArtifactReader: what the artifact tools (read_artifact, search_artifact) need of the
// session's artifact store: the whole text of a stored tool output, by its handle. The
// store itself (SQLite, content-addressed) lives with the agent's context layer.
#pragma once

#include <optional>
#include <string>

namespace nagent {

class ArtifactReader {
 public:
  virtual ~ArtifactReader() = default;
  // The artifact's text, or nullopt when no artifact has this id.
  virtual std::optional<std::string> artifact_text(const std::string& id) const = 0;
};

}  // namespace nagent
