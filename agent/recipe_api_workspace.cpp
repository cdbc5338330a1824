// The workspace: files (confined to it), and git helpers run through the sandbox runner.
// Helpers that change the repository (apply, commit, branch, switch) are journaled ops, so
// a resumed recipe does not do them twice.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/recipe_api.h"
#include "tools/glob.h"
#include "tools/ignored_dirs.h"

namespace nagent::recipe_api {
namespace {

namespace fs = std::filesystem;

int api_read_file(lua_State* L, Runtime& rt) {
  std::string path = arg_string(L, 1, "nagent.read_file: the path");
  std::string error;
  std::string text;
  try {
    auto abs = rt.host.context.workspace.resolve(path);
    std::ifstream in(abs, std::ios::binary);
    if (!in || fs::is_directory(abs)) throw PathError("cannot read " + path + ": no such file");
    std::ostringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  } catch (const PathError& e) {
    error = e.what();
  }
  if (!error.empty()) {
    lua_pushnil(L);
    lua_pushlstring(L, error.data(), error.size());
    return 2;
  }
  lua_pushlstring(L, text.data(), text.size());
  return 1;
}

int api_write_file(lua_State* L, Runtime& rt) {
  std::string path = arg_string(L, 1, "nagent.write_file: the path");
  std::string text = arg_string(L, 2, "nagent.write_file: the content");
  fs::path abs;
  try {
    abs = rt.host.context.workspace.resolve(path);
  } catch (const PathError& e) {
    throw ApiError(e.what());
  }
  fs::create_directories(abs.parent_path());
  std::ofstream out(abs, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw ApiError("nagent.write_file: cannot write " + path);
  return 0;
}

// nagent.list_files([dir [, glob]]) -> sorted workspace-relative paths of the files below
// dir, skipping version control, dependency and build folders.
int api_list_files(lua_State* L, Runtime& rt) {
  const std::string dir = opt_string(L, 1, "nagent.list_files: the folder", ".");
  const std::string glob = opt_string(L, 2, "nagent.list_files: the glob", "");
  fs::path root;
  try {
    root = rt.host.context.workspace.resolve(dir);
  } catch (const PathError& e) {
    throw ApiError(e.what());
  }
  if (!fs::is_directory(root)) throw ApiError("nagent.list_files: " + dir + " is not a folder");
  std::vector<std::string> files;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied);
       it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_directory() && is_ignored_dir(it->path().filename().string())) {
      it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file()) continue;
    std::string rel = rt.host.context.workspace.relative(it->path());
    if (glob.empty() || glob_match(glob, rel)) files.push_back(std::move(rel));
  }
  std::sort(files.begin(), files.end());
  push_json(L, files);
  return 1;
}

sandbox::Result run_git(Runtime& rt, std::vector<std::string> argv, const std::string& stdin_data = "") {
  sandbox::Command cmd;
  cmd.argv = {"git", "-c", "user.name=nagent", "-c", "user.email=nagent@localhost"};
  cmd.argv.insert(cmd.argv.end(), argv.begin(), argv.end());
  cmd.workdir = rt.host.context.workspace.root().string();
  cmd.stdin_data = stdin_data;
  cmd.timeout_s = 60;
  LuaUnlock unlock(rt);
  return rt.host.context.runner.run(cmd);
}

std::string first_line(const std::string& s) {
  std::string line = s.substr(0, s.find('\n'));
  return line.size() > 300 ? line.substr(0, 300) : line;
}

// A git command that changes the repository, as a journaled op: {ok, stdout, stderr}.
json git_op(Runtime& rt, const std::string& name, std::vector<std::string> argv, const std::string& stdin_data = "") {
  Journal& journal = rt.host.journal;
  const int op = rt.begin_op();
  if (auto recorded = journal.recorded_result(op)) return *recorded;
  sandbox::Result r = run_git(rt, std::move(argv), stdin_data);
  json result = {{"ok", r.ok()}, {"stdout", r.stdout_data}, {"stderr", r.stderr_data}};
  journal.record("op_end", {{"op", op}, {"kind", "git"}, {"name", name}, {"result", result}});
  return result;
}

// Pushes true, or nil and git's first line of complaint.
int push_git_outcome(lua_State* L, const json& result) {
  if (result["ok"].get<bool>()) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushnil(L);
  const std::string err = first_line(result["stderr"].get<std::string>() + result["stdout"].get<std::string>());
  lua_pushstring(L, err.c_str());
  return 2;
}

// nagent.git_diff([{base = "main", paths = {...}}]): the changes against base (default
// HEAD) as a unified diff; against HEAD, new untracked files are included.
int api_git_diff(lua_State* L, Runtime& rt) {
  const json options = opt_table(L, 1, "nagent.git_diff: the options");
  const std::string base = opt_field_string(options, "base", "nagent.git_diff", "HEAD");
  std::vector<std::string> paths;
  if (options.contains("paths")) {
    if (!options["paths"].is_array()) throw ApiError("nagent.git_diff: field 'paths' must be a list of paths");
    for (const auto& p : options["paths"]) paths.push_back(p.get<std::string>());
  }
  std::vector<std::string> argv = {"diff", base, "--"};
  argv.insert(argv.end(), paths.begin(), paths.end());
  sandbox::Result tracked = run_git(rt, argv);
  if (!tracked.ok())
    throw ApiError("nagent.git_diff: git diff failed (is the workspace a git repository with a commit?): " +
                   first_line(tracked.stderr_data));
  std::string diff = tracked.stdout_data;
  if (base == "HEAD") {
    std::vector<std::string> ls = {"ls-files", "--others", "--exclude-standard", "-z", "--"};
    ls.insert(ls.end(), paths.begin(), paths.end());
    const std::string list = run_git(rt, ls).stdout_data;
    for (size_t pos = 0; pos < list.size();) {
      size_t end = list.find('\0', pos);
      if (end == std::string::npos) end = list.size();
      std::string path = list.substr(pos, end - pos);
      pos = end + 1;
      // --no-index exits 1 when the files differ, which they always do here.
      if (!path.empty()) diff += run_git(rt, {"diff", "--no-index", "--", "/dev/null", path}).stdout_data;
    }
  }
  lua_pushlstring(L, diff.data(), diff.size());
  return 1;
}

// nagent.git_status() -> {{path = "a.py", status = "M"}, ...} (untracked files: "??").
int api_git_status(lua_State* L, Runtime& rt) {
  sandbox::Result r = run_git(rt, {"status", "--porcelain=v1", "-z", "--untracked-files=all"});
  if (!r.ok()) throw ApiError("nagent.git_status: " + first_line(r.stderr_data));
  json list = json::array();
  const std::string& out = r.stdout_data;
  for (size_t pos = 0; pos + 3 < out.size();) {
    size_t end = out.find('\0', pos);
    if (end == std::string::npos) end = out.size();
    std::string entry = out.substr(pos, end - pos);
    pos = end + 1;
    std::string status = entry.substr(0, 2);
    if (status[0] == 'R' || status[0] == 'C') pos = out.find('\0', pos) + 1;  // skip the old name
    status.erase(status.find_last_not_of(' ') + 1);
    status.erase(0, status.find_first_not_of(' '));
    list.push_back({{"path", entry.substr(3)}, {"status", status}});
  }
  push_json(L, list);
  return 1;
}

// nagent.git_show(ref, path) -> the file's text at ref | nil, error
int api_git_show(lua_State* L, Runtime& rt) {
  const std::string ref = arg_string(L, 1, "nagent.git_show: the ref");
  const std::string path = arg_string(L, 2, "nagent.git_show: the path");
  sandbox::Result r = run_git(rt, {"show", ref + ":" + path});
  if (!r.ok()) {
    lua_pushnil(L);
    lua_pushstring(L, first_line(r.stderr_data).c_str());
    return 2;
  }
  lua_pushlstring(L, r.stdout_data.data(), r.stdout_data.size());
  return 1;
}

// nagent.git_apply(patch [, {check = true, reverse = true}]) -> true | nil, error
int api_git_apply(lua_State* L, Runtime& rt) {
  const std::string patch = arg_string(L, 1, "nagent.git_apply: the patch");
  const json options = opt_table(L, 2, "nagent.git_apply: the options");
  std::vector<std::string> argv = {"apply", "--whitespace=nowarn"};
  if (options.value("check", false)) argv.push_back("--check");
  if (options.value("reverse", false)) argv.push_back("--reverse");
  argv.push_back("-");
  return push_git_outcome(L, git_op(rt, "apply", argv, patch));
}

// nagent.git_commit(message) -> the new commit's hash | nil, error (commits every change)
int api_git_commit(lua_State* L, Runtime& rt) {
  const std::string message = arg_string(L, 1, "nagent.git_commit: the message");
  json added = git_op(rt, "add", {"add", "-A"});
  if (!added["ok"].get<bool>()) return push_git_outcome(L, added);
  json committed = git_op(rt, "commit", {"commit", "-q", "--no-verify", "-m", message});
  if (!committed["ok"].get<bool>()) return push_git_outcome(L, committed);
  sandbox::Result head = run_git(rt, {"rev-parse", "HEAD"});
  std::string hash = first_line(head.stdout_data);
  lua_pushstring(L, hash.c_str());
  return 1;
}

// nagent.git_branch(name [, {from = ref}]) -> the branch it left | nil, error: creates and
// switches to a (temporary) branch; nagent.git_switch(previous) goes back.
int api_git_branch(lua_State* L, Runtime& rt) {
  const std::string name = arg_string(L, 1, "nagent.git_branch: the branch name");
  const json options = opt_table(L, 2, "nagent.git_branch: the options");
  sandbox::Result current = run_git(rt, {"rev-parse", "--abbrev-ref", "HEAD"});
  std::vector<std::string> argv = {"switch", "-q", "-c", name};
  if (options.contains("from")) argv.push_back(opt_field_string(options, "from", "nagent.git_branch", "HEAD"));
  json r = git_op(rt, "branch", argv);
  if (!r["ok"].get<bool>()) return push_git_outcome(L, r);
  lua_pushstring(L, first_line(current.stdout_data).c_str());
  return 1;
}

int api_git_switch(lua_State* L, Runtime& rt) {
  const std::string name = arg_string(L, 1, "nagent.git_switch: the branch name");
  return push_git_outcome(L, git_op(rt, "switch", {"switch", "-q", name}));
}

}  // namespace

void register_workspace_api(lua_State* L, Runtime& rt) {
  set_function<api_read_file>(L, rt, "read_file");
  set_function<api_write_file>(L, rt, "write_file");
  set_function<api_list_files>(L, rt, "list_files");
  set_function<api_git_diff>(L, rt, "git_diff");
  set_function<api_git_status>(L, rt, "git_status");
  set_function<api_git_show>(L, rt, "git_show");
  set_function<api_git_apply>(L, rt, "git_apply");
  set_function<api_git_commit>(L, rt, "git_commit");
  set_function<api_git_branch>(L, rt, "git_branch");
  set_function<api_git_switch>(L, rt, "git_switch");
}

}  // namespace nagent::recipe_api
