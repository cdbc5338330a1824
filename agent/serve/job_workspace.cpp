#include "agent/serve/job_workspace.h"

#include <filesystem>
#include <stdexcept>

#include "sandbox/sandbox.h"

namespace nagent::serve {
namespace {

namespace fs = std::filesystem;

// git runs on the host as the server (not as the job): it only copies and diffs.
sandbox::Result git(const std::vector<std::string>& args, const std::string& workdir, double timeout_s = 300) {
  sandbox::Command cmd;
  cmd.argv = {"git", "-c", "advice.detachedHead=false", "-c", "core.hooksPath=/dev/null"};
  cmd.argv.insert(cmd.argv.end(), args.begin(), args.end());
  cmd.workdir = workdir;
  cmd.timeout_s = timeout_s;
  cmd.output_cap_bytes = 64u << 20;
  return sandbox::make_plain_runner()->run(cmd);
}

std::string first_line(const std::string& s) {
  std::string line = s.substr(0, s.find('\n'));
  return line.empty() ? "no output" : line;
}

}  // namespace

std::string prepare_job_workspace(const std::string& job_id, const json& spec, const std::string& work_dir) {
  const fs::path job_dir = fs::path(work_dir) / job_id;
  const fs::path copy = job_dir / "repo";
  std::error_code ec;
  if (fs::exists(copy / ".git", ec)) return copy.string();
  fs::remove_all(job_dir, ec);  // a clone cut short by a crash
  fs::create_directories(job_dir);
  const std::string source = spec.at("repo");
  sandbox::Result clone = git({"clone", "--quiet", "--no-hardlinks", "--", source, copy.string()}, job_dir.string());
  if (!clone.ok()) throw std::runtime_error("git clone " + source + " failed: " + first_line(clone.stderr_data));
  if (spec.contains("ref")) {
    const std::string ref = spec["ref"];
    if (!git({"checkout", "--quiet", "--detach", ref, "--"}, copy.string()).ok()) {
      // A commit or pull ref the clone did not bring: fetch it by name.
      sandbox::Result fetch = git({"fetch", "--quiet", "origin", ref}, copy.string());
      sandbox::Result checkout = git({"checkout", "--quiet", "--detach", "FETCH_HEAD", "--"}, copy.string());
      if (!fetch.ok() || !checkout.ok())
        throw std::runtime_error("cannot check out ref '" + ref + "': " + first_line(fetch.stderr_data));
    }
  }
  return copy.string();
}

std::string job_workspace_patch(const std::string& workspace) {
  if (!git({"add", "--all"}, workspace, 60).ok()) return "";
  sandbox::Result diff = git({"diff", "--cached", "--no-color", "--no-ext-diff"}, workspace, 60);
  return diff.ok() ? diff.stdout_data : "";
}

}  // namespace nagent::serve
