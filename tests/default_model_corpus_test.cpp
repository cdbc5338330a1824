// The default model's training repositories (scripts/default_model/repos.py), checked by
// check_repos.py in a real Python subprocess: each generated bug fails the tests, its fix makes
// them pass, a wrong first fix does not, and the train and held-out splits share no names.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace {

struct Result {
  int code;
  std::string out;
};

Result run(const std::string& cmd) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  REQUIRE(p);
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace

TEST_CASE("default-model repositories: bugs fail the tests and their fixes pass them") {
  const Result r = run("python3 " + std::string(NAGENT_SOURCE_DIR) +
                       "/scripts/default_model/check_repos.py --count 15 --seed 11");
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK(r.out.find("30 repositories") != std::string::npos);
  CHECK(r.out.find(": ok") != std::string::npos);
}
