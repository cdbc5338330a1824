// Shared by tests/tools_*_test.cpp: a real temporary workspace, the built-in tools, and a
// call() that validates arguments the way the agent does before running a tool.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "sandbox/sandbox.h"
#include "tools/tool.h"
#include "tools/workspace.h"

namespace nagent::test {

namespace fs = std::filesystem;

inline fs::path make_temp_dir() {
  std::string tmpl = (fs::temp_directory_path() / "nagent-tools-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  return fs::canonical(tmpl);
}

struct TempWorkspace {
  fs::path root = make_temp_dir();
  Workspace ws{root};
  std::unique_ptr<sandbox::Runner> runner = sandbox::make_plain_runner();
  ToolContext ctx{ws, *runner, "", 16 * 1024};
  ToolRegistry tools = builtin_tools();

  ~TempWorkspace() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }

  void write(const std::string& rel, const std::string& content) const {
    fs::path p = root / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
  }

  std::string read(const std::string& rel) const {
    std::ifstream in(root / rel, std::ios::binary);
    REQUIRE(in.good());
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }

  bool exists(const std::string& rel) const { return fs::exists(fs::symlink_status(root / rel)); }

  ToolResult call(const std::string& name, const json& args) {
    const Tool* tool = tools.find(name);
    REQUIRE(tool != nullptr);
    INFO("arguments: " << args.dump());
    REQUIRE(validate_arguments(*tool, args) == "");
    return tool->run(args, ctx);
  }
};

}  // namespace nagent::test
