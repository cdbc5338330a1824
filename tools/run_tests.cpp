// run_tests: runs the repository's tests (--test-cmd, or a detected command) and says
// whether they passed. The output keeps more of its tail, where test runners summarise
// failures.
#include "tools/builtin.h"
#include "tools/run_command.h"
#include "tools/test_detect.h"

namespace nagent {

namespace {

constexpr double kTimeout = 900;
constexpr double kTailShare = 0.75;

class RunTestsTool : public Tool {
 public:
  std::string name() const override { return "run_tests"; }
  std::string description() const override {
    return "Run the repository's test suite and report whether it passed. The command is the one configured "
           "for this session, or detected from the repository (make test, npm test, cargo test, go test ./..., "
           "ctest with a configured build directory, pytest or python3 -m unittest). Output keeps its end, where "
           "failures are summarised; the command is killed after 900 s. To run a single test, use shell. "
           "Takes no arguments: {}";
  }
  json parameters() const override {
    return {{"type", "object"}, {"properties", json::object()}, {"additionalProperties", false}};
  }
  bool read_only() const override { return false; }

  ToolResult run(const json&, ToolContext& ctx) const override {
    std::string command = ctx.test_command;
    std::string reason = "configured test command";
    try {
      if (command.empty()) {
        auto detected = detect_test_command(ctx.workspace.root(), [&] {
          return run_shell_command(ctx, "python3 -c 'import pytest'", 30).ok();
        });
        if (!detected) {
          return tool_error(
              "no test command found: no Makefile test target, package.json scripts.test, Cargo.toml, go.mod, "
              "configured CMake build directory, or Python tests (test_*.py, pytest configuration). Run the "
              "tests with shell, or start the session with a test command (--test-cmd).");
        }
        command = detected->command;
        reason = detected->reason;
      }
      sandbox::Result res = run_shell_command(ctx, command, kTimeout);
      ToolResult r;
      r.ok = res.ok();
      r.exit_code = outcome_code(res);
      const OutcomeText text = describe_outcome(res, ctx, kTimeout, 1.0 - kTailShare);
      const std::string header = "$ " + command + "   # " + reason + "\n";
      const std::string verdict = res.ok() ? "\n[tests passed]" : "\n[tests FAILED]";
      r.output = header + text.shown + verdict;
      if (!text.whole.empty()) r.full_output = header + text.whole + verdict;
      r.data = {{"passed", res.ok()}, {"command", command}, {"exit_code", r.exit_code}, {"duration_ms", res.duration_ms}};
      return r;
    } catch (const std::exception& e) {
      return tool_error(std::string("the sandbox could not run the tests: ") + e.what());
    }
  }
};

}  // namespace

std::shared_ptr<const Tool> make_run_tests_tool() { return std::make_shared<RunTestsTool>(); }

}  // namespace nagent
