// `nagent serve` start-up: bad flags, settings and environment stop it with exit code 2 and
// one line naming the problem; SIGTERM stops it cleanly with exit code 0.
#include <catch2/catch.hpp>

#include <signal.h>

#include "support/serve_fixture.h"

using namespace nagent;

namespace {

ChildResult serve_with(std::vector<std::string> args, std::map<std::string, std::string> env) {
  static TempDir home("serve-cli");
  args.insert(args.begin(), {NAGENT_BINARY, "serve"});
  env.emplace("NAGENT_HOME", home.str());
  env.emplace("NAGENT_API_TOKEN", "t");
  return run_child(args, env, "", 30);
}

}  // namespace

TEST_CASE("nagent serve: bad start-up settings exit 2 with one line", "[serve][cli]") {
  TempDir dir("serve-cli-config");
  auto one_line = [](const ChildResult& r, const std::string& needle) {
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(needle) != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  };
  one_line(serve_with({"--listen", "localhost"}, {}), "HOST:PORT");
  one_line(serve_with({"--listen", "127.0.0.1:99999"}, {}), "0 to 65535");
  one_line(serve_with({"--workers", "many"}, {}), "--workers");
  one_line(serve_with({"--frobnicate"}, {}), "--frobnicate");
  one_line(serve_with({}, {{"NAGENT_API_TOKEN", ""}}), "NAGENT_API_TOKEN");
  write_text(dir.path() / "bad.json", R"({"workers": 2, "colour": "blue"})");
  one_line(serve_with({"--config", (dir.path() / "bad.json").string()}, {}), "unknown setting 'colour'");
  write_text(dir.path() / "typed.json", R"({"max_queue": "lots"})");
  one_line(serve_with({"--config", (dir.path() / "typed.json").string()}, {}), "'max_queue' has the wrong type");
  write_text(dir.path() / "broken.json", "{");
  one_line(serve_with({"--config", (dir.path() / "broken.json").string()}, {}), "not valid JSON");
  one_line(serve_with({"--config", (dir.path() / "missing.json").string()}, {}), "cannot read config file");
  write_text(dir.path() / "roots.json", R"({"repo_roots": ["/no/such/root"]})");
  one_line(serve_with({"--config", (dir.path() / "roots.json").string()}, {}), "/no/such/root");
  write_text(dir.path() / "unsandboxed.json", R"({"policies": ["default", "none"]})");
  one_line(serve_with({"--config", (dir.path() / "unsandboxed.json").string()}, {}), "jobs run sandboxed");
  CHECK(serve_with({"--help"}, {}).out.find("--max-queue") != std::string::npos);
}

TEST_CASE("nagent serve: a taken port exits 2 and SIGTERM stops the server with exit code 0", "[serve][cli]") {
  ServeFixture serve(json{{"workers", 1}});
  serve.start();
  ChildResult taken = serve_with({"--listen", "127.0.0.1:" + std::to_string(serve.port())}, {});
  CHECK(taken.exit_code == 2);
  CHECK(taken.err.find("cannot listen on 127.0.0.1:" + std::to_string(serve.port())) != std::string::npos);
  ChildResult r = serve.stop();
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("listening on http://127.0.0.1:" + std::to_string(serve.port())) != std::string::npos);
  CHECK(r.err.find("stopping") != std::string::npos);
}
