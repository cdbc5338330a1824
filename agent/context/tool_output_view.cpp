#include "agent/context/tool_output_view.h"

namespace nagent {
namespace {

std::string size_words(const ArtifactInfo& a) {
  return std::to_string(a.lines) + " lines, " + std::to_string(a.bytes) + " bytes";
}

}  // namespace

ToolOutputView view_of(const ToolResult& r, const ContextPolicy& policy, ArtifactStore* artifacts) {
  const std::string& whole = r.full_output.empty() ? r.output : r.full_output;
  if (!artifacts || (r.full_output.empty() && r.output.size() <= policy.artifact_bytes)) return {r.output, ""};
  const ArtifactInfo a = artifacts->put(whole);
  std::string text = r.output.size() <= policy.view_bytes ? r.output : cap_output(r.output, policy.view_bytes);
  if (!text.empty() && text.back() != '\n') text += '\n';
  text += "[the whole output is artifact " + a.id + " (" + size_words(a) + "): read_artifact(id, start_line, end_line) "
          "reads any part, search_artifact(id, pattern) finds lines]";
  return {std::move(text), a.id};
}

std::string elided_output(const std::string& tool, const ArtifactInfo& a) {
  return "[output of " + tool + " elided to save context: artifact " + a.id + " (" + size_words(a) +
         "); read_artifact / search_artifact read it]";
}

}  // namespace nagent
