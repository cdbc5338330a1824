// Device selection for the embedded engine (engine/model_loader.h): names are parsed strictly,
// a CUDA device on a build or machine without one is refused with a message that says why, and
// "auto" falls back to the CPU. On the CPU, a session's host snapshot is its snapshot.
#include <catch2/catch.hpp>

#include <string>

#include "engine/engine_session.h"
#include "engine/model_loader.h"

using namespace nagent::engine;

namespace {
std::string fixture(const std::string& name) { return std::string(NAGENT_SOURCE_DIR) + "/tests/fixtures/nemotronh/" + name; }
}  // namespace

TEST_CASE("device names: cpu, auto, malformed") {
  CHECK_FALSE(resolve_device("cpu").cuda);
  CHECK_THROWS_WITH(resolve_device("gpu"), Catch::Contains("unknown device 'gpu'"));
  CHECK_THROWS_WITH(resolve_device("cuda:"), Catch::Contains("expected cuda or cuda:N"));
  CHECK_THROWS_WITH(resolve_device("cuda:x"), Catch::Contains("expected cuda or cuda:N"));
  CHECK_THROWS_WITH(resolve_device("cuda7"), Catch::Contains("expected cuda or cuda:N"));
}

TEST_CASE("a CUDA device where there is none is refused, auto runs on the CPU") {
  if (built_with_cuda()) {
    // This build has CUDA; a machine with a GPU is checked by tests/gpu/engine_cuda_check.cpp.
    CHECK_THROWS_WITH(resolve_device("cuda:1000"), Catch::Contains("this machine has"));
  } else {
    CHECK_THROWS_WITH(resolve_device("cuda"), Catch::Contains("built without CUDA"));
    CHECK_THROWS_WITH(resolve_device("cuda:0"), Catch::Contains("use --device cpu"));
    CHECK_FALSE(resolve_device("auto").cuda);
    auto m = load_language_model(fixture("nano_fp32"), "auto");
    CHECK(m->device_description().rfind("cpu", 0) == 0);
  }
}

TEST_CASE("on the CPU a host snapshot equals the snapshot and restores") {
  auto m = load_language_model(fixture("nano_fp32"), "cpu");
  EngineSession s(*m);
  s.append({5, 6, 7});
  const SessionSnapshot host = s.host_snapshot();
  CHECK(host.state == s.snapshot().state);
  CHECK(host.tokens == s.tokens());
  s.append({8});
  const std::vector<float> after = s.last_logits();
  s.restore(host);
  s.append({8});
  CHECK(s.last_logits() == after);
}
