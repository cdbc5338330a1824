// finish: the model's way to end the run, with a summary for the user.
#include "tools/builtin.h"

namespace nagent {

namespace {

class FinishTool : public Tool {
 public:
  std::string name() const override { return "finish"; }
  std::string description() const override {
    return "End the task. Call it once the work is done (or cannot be done), with a short summary for the "
           "user: what changed, how it was verified, anything left open. No other tool runs after it. "
           "Example: {\"summary\": \"Fixed the off-by-one in parse_range (src/range.py); all 42 tests pass.\"}";
  }
  json parameters() const override {
    return {{"type", "object"},
            {"properties", {{"summary", {{"type", "string"}, {"description", "What was done, for the user"}}}}},
            {"required", {"summary"}},
            {"additionalProperties", false}};
  }
  bool read_only() const override { return true; }

  ToolResult run(const json& args, ToolContext&) const override {
    ToolResult r;
    r.finished = true;
    r.output = "Finished.";
    r.data = {{"summary", args["summary"].get<std::string>()}};
    return r;
  }
};

}  // namespace

std::shared_ptr<const Tool> make_finish_tool() { return std::make_shared<FinishTool>(); }

}  // namespace nagent
