// The dashboard in a real headless Chromium (Debian's chromium, installed by
// scripts/setup.sh): the page served by nagent serve lists the jobs, streams the selected
// job's events over SSE and renders its diff; a screenshot is saved as a test artifact in
// build/test-artifacts/serve_dashboard.png.
#include <catch2/catch.hpp>

#include "support/scripted_server.h"
#include "support/serve_fixture.h"
#include "support/swe_basic_script.h"

using namespace nagent;

namespace {

// Chromium as the issue asks: headless, no sandbox (tests may run as root), no GPU, no
// background traffic, a fresh profile; virtual time lets the page's fetches and SSE finish.
ChildResult chromium(const std::vector<std::string>& args, const std::string& url) {
  TempDir profile("chromium-profile");
  std::vector<std::string> argv = {"/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu",
                                   "--disable-background-networking", "--no-first-run",
                                   "--user-data-dir=" + profile.str(), "--virtual-time-budget=10000",
                                   "--window-size=1400,900"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back(url);
  return run_child(argv, {}, "", 120);
}

}  // namespace

TEST_CASE("dashboard: headless Chromium renders the job list with the streamed timeline and the diff", "[serve][dashboard]") {
  ScriptedServer model;
  model.set_responder([](const json& request) { return swe_basic_step(assistant_turns(request)); });
  ServeFixture serve(json{{"workers", 1}}, model.endpoint());
  const auto repo = serve.make_repo("swe_basic");
  serve.start();
  auto done = serve.submit({{"recipe", "swe_fix"}, {"repo", repo.string()}, {"task", "median is wrong for even lengths"}});
  REQUIRE(done->status == 202);
  const std::string id = json::parse(done->body)["id"];
  REQUIRE(serve.wait_finished(id)["status"] == "succeeded");

  const std::string url = serve.base_url() + "/#token=" + kServeToken + "&job=" + id;
  ChildResult dom = chromium({"--dump-dom"}, url);
  INFO("chromium stderr: " << dom.err);
  REQUIRE(dom.exit_code == 0);
  CHECK(dom.out.find("data-id=\"" + id + "\" data-status=\"succeeded\"") != std::string::npos);
  CHECK(dom.out.find("data-type=\"session_start\"") != std::string::npos);  // the SSE timeline
  CHECK(dom.out.find("data-type=\"job_end\"") != std::string::npos);
  // The diff: coloured by line kind, and the code in it by token kind.
  CHECK(dom.out.find("<div class=\"add\">+    <span class=\"kw\">return</span> (ordered[mid - <span class=\"num\">1</span>] + "
                     "ordered[mid]) / <span class=\"num\">2</span></div>") != std::string::npos);
  CHECK(dom.out.find("<span class=\"kw\">if</span> len(ordered) % <span class=\"num\">2</span> == "
                     "<span class=\"num\">1</span>:") != std::string::npos);
  CHECK(dom.out.find("class=\"com\"") == std::string::npos);  // Python's // is no comment
  CHECK(dom.out.find("\"diffstat\": \"1 file changed") != std::string::npos);  // the report

  // A wrong token shows the API's error instead of jobs.
  ChildResult denied = chromium({"--dump-dom"}, serve.base_url() + "/#token=wrong");
  CHECK(denied.out.find("invalid bearer token") != std::string::npos);
  CHECK(denied.out.find("data-id=") == std::string::npos);

  const auto artifacts = std::filesystem::path(NAGENT_BINARY).parent_path() / "test-artifacts";
  std::filesystem::create_directories(artifacts);
  const auto png = artifacts / "serve_dashboard.png";
  std::filesystem::remove(png);
  ChildResult shot = chromium({"--screenshot=" + png.string()}, url);
  INFO("chromium stderr: " << shot.err);
  REQUIRE(std::filesystem::exists(png));
  CHECK(std::filesystem::file_size(png) > 10000);
}
