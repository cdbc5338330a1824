// Which command runs a repository's tests, judged from the files at its root.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace nagent {

struct TestCommand {
  std::string command;  // a /bin/sh command line, run in the repository root
  std::string reason;   // what it was detected from, e.g. "Makefile has a test target"
};

// First match wins, most explicit first: a Makefile `test` target (the project's own entry
// point); package.json scripts.test (npm's placeholder excluded); Cargo.toml; go.mod;
// CMakeLists.txt with a configured build directory (build, build-*, cmake-build-*, out/build:
// built, then ctest); Python (pytest.ini, conftest.py, pytest sections in pyproject.toml /
// setup.cfg / tox.ini, or test_*.py / *_test.py files): `python3 -m pytest` when
// pytest_available() says so (asked only for Python repositories), else
// `python3 -m unittest discover` pointed at where the tests are.
std::optional<TestCommand> detect_test_command(const std::filesystem::path& root,
                                               const std::function<bool()>& pytest_available);

}  // namespace nagent
