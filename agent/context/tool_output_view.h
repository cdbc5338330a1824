// What the model sees of a tool output that became an artifact: its head and tail (the
// tool's own capped view, or a cap of the whole) and the handle to read the rest; and what
// an old output shrinks to when a compaction elides it (stage b).
#pragma once

#include <string>

#include "agent/context/artifact_store.h"
#include "agent/context/context_policy.h"
#include "tools/tool.h"

namespace nagent {

// When the result is long (the tool capped it, or it is over policy.artifact_bytes), stores
// the whole output and returns the view with the handle; otherwise returns nothing.
struct ToolOutputView {
  std::string text;      // for the model (and the journal)
  std::string artifact;  // the handle, or "" when the output is shown whole
};
ToolOutputView view_of(const ToolResult& result, const ContextPolicy& policy, ArtifactStore* artifacts);

// "[output of shell elided ...: art_..., 120 lines, 4.1 KB; read_artifact / search_artifact]"
std::string elided_output(const std::string& tool, const ArtifactInfo& artifact);

}  // namespace nagent
