// load_policy(): the shipped policies parse to what they promise, and bad files are
// rejected naming the file, the key and the reason.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "sandbox/policy.h"

namespace fs = std::filesystem;
using nagent::sandbox::load_policy;
using nagent::sandbox::Policy;

namespace {

struct PolicyDir {
  fs::path path;
  PolicyDir() {
    std::string tmpl = (fs::temp_directory_path() / "nagent-policy-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~PolicyDir() { fs::remove_all(path); }
  std::string write(const std::string& name, const std::string& text) {
    auto file = path / (name + ".lua");
    std::ofstream(file) << text;
    return file.string();
  }
};

std::string error_of(const std::string& name_or_path) {
  try {
    load_policy(name_or_path);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string shipped(const std::string& name) {
  return std::string(NAGENT_SOURCE_DIR) + "/policies/" + name + ".lua";
}

bool binds_path(const Policy& p, const std::string& path) {
  for (const auto& b : p.binds)
    if (b.path == path) return true;
  return false;
}

}  // namespace

TEST_CASE("the shipped default policy: workspace rw, .git ro, no network, limits set") {
  Policy p = load_policy(shipped("default"));
  CHECK(p.name == "default");
  CHECK(p.isolate);
  CHECK(p.workspace_writable);
  CHECK_FALSE(p.git_writable);
  CHECK_FALSE(p.network);
  CHECK(p.seccomp == "default");
  CHECK(binds_path(p, "/usr"));
  CHECK_FALSE(binds_path(p, "/etc/shadow"));
  for (const auto& b : p.binds) CHECK_FALSE(b.writable);
  CHECK(p.limits.processes > 0);
  CHECK(p.limits.memory_mb > 0);
  CHECK(p.tools.empty());
}

TEST_CASE("readonly and build extend default and change what they say") {
  Policy def = load_policy(shipped("default"));
  Policy ro = load_policy(shipped("readonly"));
  CHECK(ro.name == "readonly");
  CHECK_FALSE(ro.workspace_writable);
  CHECK_FALSE(ro.network);
  CHECK(ro.binds.size() == def.binds.size());
  CHECK(ro.set_env.at("PYTHONDONTWRITEBYTECODE") == "1");
  CHECK(std::find(ro.tools.begin(), ro.tools.end(), "write_file") == ro.tools.end());
  CHECK(std::find(ro.tools.begin(), ro.tools.end(), "read_file") != ro.tools.end());

  Policy build = load_policy(shipped("build"));
  CHECK(build.workspace_writable);
  CHECK(build.limits.processes > def.limits.processes);
  CHECK(build.limits.memory_mb > def.limits.memory_mb);
}

TEST_CASE("a policy name is looked up in $NAGENT_DATA_DIR/policies") {
  PolicyDir dir;
  fs::create_directories(dir.path / "policies");
  std::ofstream(dir.path / "policies" / "mine.lua") << "return { network = 'host', limits = { memory_mb = 64 } }";
  ::setenv("NAGENT_DATA_DIR", dir.path.c_str(), 1);
  Policy p = load_policy("mine");
  std::string missing = error_of("nosuch");
  ::unsetenv("NAGENT_DATA_DIR");
  CHECK(p.name == "mine");
  CHECK(p.network);
  CHECK(p.limits.memory_mb == 64);
  CHECK(missing.find("no such policy") != std::string::npos);
  CHECK(missing.find((dir.path / "policies" / "nosuch.lua").string()) != std::string::npos);
}

TEST_CASE("policy 'none' is the explicit unisolated mode") {
  Policy p = load_policy("none");
  CHECK_FALSE(p.isolate);
  CHECK(p.source.empty());
}

TEST_CASE("bad policies are rejected with the file, the key and the reason") {
  PolicyDir dir;
  auto f = dir.write("bad_limit", "return { limits = { memory_mb = 'x' } }");
  CHECK(error_of(f) == "policy " + f + ": key 'limits.memory_mb': expected a positive integer, got \"x\"");
  f = dir.write("neg", "return { limits = { processes = -3 } }");
  CHECK(error_of(f) == "policy " + f + ": key 'limits.processes': expected a positive integer, got -3");
  f = dir.write("typo", "return { netwrok = 'none' }");
  CHECK(error_of(f).starts_with("policy " + f + ": key 'netwrok': unknown key"));
  f = dir.write("net", "return { network = 'internet' }");
  CHECK(error_of(f) == "policy " + f + ": key 'network': expected \"none\" or \"host\", got \"internet\"");
  f = dir.write("rel", "return { binds = { 'usr' } }");
  CHECK(error_of(f).starts_with("policy " + f + ": key 'binds[1]': expected an absolute path"));
  f = dir.write("bindkey", "return { binds = { { '/usr', writeable = true } } }");
  CHECK(error_of(f).starts_with("policy " + f + ": key 'binds[1].writeable': unknown key"));
  f = dir.write("notable", "return 42");
  CHECK(error_of(f) == "policy " + f + ": must return a table");
  f = dir.write("syntax", "return { ");
  CHECK(error_of(f).find(f) != std::string::npos);
  f = dir.write("loop", "while true do end");
  CHECK(error_of(f).find("instruction budget") != std::string::npos);
  f = dir.write("io", "return { description = io.open('/etc/passwd'):read('a') }");
  CHECK(error_of(f).find("io") != std::string::npos);
  f = dir.write("cycle", "return { extends = 'cycle' }");
  CHECK(error_of(f).find("cycle") != std::string::npos);
}

TEST_CASE("a policy can compute values, expand ~ and extend another by path") {
  PolicyDir dir;
  dir.write("base", "return { workspace = 'ro', limits = { memory_mb = 100, processes = 10 } }");
  auto f = dir.write("child",
                     "local mb = 2 * 256\n"
                     "return { extends = 'base', limits = { memory_mb = mb },\n"
                     "  binds = { { '~/.toolchain', optional = true }, { '/data', writable = true } } }");
  std::string home = std::getenv("HOME") ? std::getenv("HOME") : "";
  ::setenv("HOME", "/home/someone", 1);
  Policy p = load_policy(f);
  ::setenv("HOME", home.c_str(), 1);
  CHECK_FALSE(p.workspace_writable);         // from base
  CHECK(p.limits.processes == 10);           // from base
  CHECK(p.limits.memory_mb == 512);          // overridden
  REQUIRE(p.binds.size() == 2);
  CHECK(p.binds[0].path == "/home/someone/.toolchain");
  CHECK(p.binds[0].optional);
  CHECK(p.binds[1].writable);
}
