// The default model's training repositories (scripts/default_model/repos.py), checked by
// check_repos.py in a real Python subprocess: each generated bug fails the tests, its fix makes
// them pass, a wrong first fix does not, and the train and held-out splits share no names.
#include <catch2/catch.hpp>

#include <string>

#include "support/child_process.h"

TEST_CASE("default-model repositories: bugs fail the tests and their fixes pass them") {
  const ChildResult r = run_child({"/usr/bin/env", "python3", std::string(NAGENT_SOURCE_DIR) + "/scripts/default_model/check_repos.py",
                                   "--count", "15", "--seed", "11"},
                                  {}, "", 240);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("30 repositories") != std::string::npos);
  CHECK(r.out.find(": ok") != std::string::npos);
}
