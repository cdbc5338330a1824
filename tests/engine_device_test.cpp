// Device selection for the embedded engine (engine/model_loader.h): names are parsed strictly,
// a CUDA device on a build or machine without one is refused with a message that says why, and
// "auto" falls back to the CPU. On the CPU, a session's host snapshot is its snapshot.
#include <catch2/catch.hpp>

#include <string>

#include "engine/engine_options.h"
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

TEST_CASE("tensor parallel size: parsed strictly, GPUs counted from the named one, clear refusals") {
  CHECK(parse_tensor_parallel("1") == 1);
  CHECK(parse_tensor_parallel("8") == 8);
  for (const char* bad : {"", "0", "-2", "2x", "1025", "two"})
    CHECK_THROWS_WITH(parse_tensor_parallel(bad), Catch::Contains("GPU count from 1 to 1024"));
  const DeviceChoice cpu{}, cuda0{true, 0}, cuda2{true, 2};
  CHECK(tensor_parallel_devices(cpu, 1, 0) == std::vector<int>{0});
  CHECK(tensor_parallel_devices(cuda0, 1, 1) == std::vector<int>{0});
  CHECK(tensor_parallel_devices(cuda0, 4, 4) == std::vector<int>{0, 1, 2, 3});
  CHECK(tensor_parallel_devices(cuda2, 2, 4) == std::vector<int>{2, 3});
  CHECK_THROWS_WITH(tensor_parallel_devices(cpu, 2, 0), Catch::Contains("needs a CUDA device"));
  CHECK_THROWS_WITH(tensor_parallel_devices(cuda0, 2, 1),
                    Catch::Contains("needs cuda:0 to cuda:1; this machine has 1 CUDA GPU"));
  CHECK_THROWS_WITH(tensor_parallel_devices(cuda2, 4, 4), Catch::Contains("needs cuda:2 to cuda:5"));
  CHECK_THROWS_AS(tensor_parallel_devices(cuda0, 0, 1), std::invalid_argument);
  // Through the loader: on the CPU, a world size above 1 is refused before anything loads.
  EngineOptions o;
  o.tensor_parallel = 2;
  CHECK_THROWS_WITH(load_language_model(fixture("nano_fp32"), "cpu", o), Catch::Contains("needs a CUDA device"));
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
