// `nagent bench-engine` as a real subprocess: the small shape and the nano fixture print JSON
// with positive rates; bad arguments and the 30B shape on a machine without the memory are
// refused. Also the shared random-checkpoint writer (engine/random_checkpoint.h): what it
// writes loads for dense, MoE and latent-MoE configs, and the compiled-in 30B config agrees with
// the fixture. No timings are asserted.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/nemotronh.h"
#include "engine/random_checkpoint.h"
#include "support/child_process.h"

using namespace nagent::engine;
namespace fs = std::filesystem;

namespace {

const std::string kFixtures = std::string(NAGENT_SOURCE_DIR) + "/tests/fixtures/nemotronh";

// args: words separated by spaces (no quoting needed by these tests).
ChildResult run(const std::string& args) {
  std::vector<std::string> argv{NAGENT_BINARY};
  std::istringstream words(args);
  for (std::string w; words >> w;) argv.push_back(w);
  return run_child(argv);
}

// A fixture's config.json as JSON (Python's Infinity written as 1e308).
nlohmann::json fixture_config(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  for (size_t at; (at = text.find("Infinity")) != std::string::npos;) text.replace(at, 8, "1e308");
  return nlohmann::json::parse(text);
}

void check_report(const nlohmann::json& j, int64_t batch, int64_t prompt, int64_t gen) {
  for (const char* k : {"source", "device", "pattern", "parameters", "batch", "prompt_len", "gen_len", "load_s",
                        "prefill_s", "prefill_tokens_per_s", "decode_s", "decode_tokens_per_s",
                        "decode_tokens_per_s_per_sequence", "weight_bytes", "state_bytes_per_sequence",
                        "checkpoint_write_s"})
    CHECK(j.contains(k));
  CHECK(j["batch"] == batch);
  CHECK(j["prompt_len"] == prompt);
  CHECK(j["gen_len"] == gen);
  CHECK(j["prefill_tokens_per_s"].get<double>() > 0);
  CHECK(j["decode_tokens_per_s"].get<double>() > 0);
  CHECK(j["weight_bytes"].get<int64_t>() > 0);
  CHECK(j["state_bytes_per_sequence"].get<int64_t>() > 0);
  CHECK(j["device"].get<std::string>().rfind("cpu", 0) == 0);
}

}  // namespace

TEST_CASE("bench-engine --shape small on the CPU prints JSON with positive rates") {
  const ChildResult r = run("bench-engine --shape small --prompt-len 16 --gen-len 4 --batch 2 --device cpu --threads 2 --json");
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.out);
  check_report(j, 2, 16, 4);
  CHECK(j["pattern"] == "M-M-M*-M-M-M*-");
  CHECK(j["parameters"].get<int64_t>() > 100'000'000);
  CHECK(j["parameters"].get<int64_t>() < 110'000'000);
  CHECK(j["weight_bytes"].get<int64_t>() > 2 * 100'000'000);  // bf16
  CHECK(j["checkpoint_write_s"].get<double>() > 0);
}

TEST_CASE("bench-engine --model on the nano fixture, batch 1, table and JSON") {
  const std::string model = kFixtures + "/nano_fp32";
  const ChildResult r = run("bench-engine --model " + model + " --prompt-len 8 --gen-len 3 --device cpu --json");
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.out);
  check_report(j, 1, 8, 3);
  CHECK(j["source"] == model);
  CHECK(j["checkpoint_write_s"].get<double>() == 0);
  CHECK(static_cast<uint64_t>(j["weight_bytes"].get<int64_t>()) ==
        fs::file_size(model + "/model.safetensors"));

  const ChildResult t = run("bench-engine --model " + model + " --prompt-len 8 --gen-len 3 --batch 3 --device cpu");
  REQUIRE(t.exit_code == 0);
  for (const char* row : {"load", "prefill", "decode", "weights", "state", "device"})
    CHECK(t.out.find(row) != std::string::npos);
}

TEST_CASE("bench-engine refuses bad arguments with a one-line usage error") {
  const std::string nano = kFixtures + "/nano_fp32";
  for (const std::string& args :
       {std::string("--shape huge"), "--shape small --model " + nano, std::string(""),
        "--model " + nano + " --batch 0", "--model " + nano + " --batch two", "--model " + nano + " --prompt-len -3",
        "--model " + nano + " --gen-len 1x", "--model " + nano + " --threads many", "--model " + nano + " --bogus",
        "--model " + nano + " --device tpu"}) {
    INFO(args);
    const ChildResult r = run("bench-engine " + args);
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK(r.err.rfind("nagent: ", 0) == 0);
  }
  CHECK(run("bench-engine --shape huge").err.find("known: small, nemotron-3-nano-30b-a3b") != std::string::npos);
  CHECK(run("bench-engine --help").exit_code == 0);
}

TEST_CASE("bench-engine: a missing model directory is a runtime error") {
  const ChildResult r = run("bench-engine --model /nonexistent/model --device cpu");
  CHECK(r.exit_code == 3);
}

TEST_CASE("bench-engine: the 30B shape on a CPU without the memory says how much it needs") {
  const double mem = double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGE_SIZE));
  const double need = 2.0 * double(checkpoint_parameters(parse_model_config(nemotron3_nano_30b_a3b_config().dump())));
  if (need * 1.1 <= mem) {  // the command's own rule
    WARN("not checked: this machine has the memory for the 30B shape's random weights");
    return;
  }
  const ChildResult r = run("bench-engine --shape nemotron-3-nano-30b-a3b --device cpu --json");
  CHECK(r.exit_code == 2);
  CHECK(r.out.empty());
  INFO(r.err);
  CHECK(r.err.find("GiB of memory") != std::string::npos);
  CHECK(r.err.find("--device cuda") != std::string::npos);
}

TEST_CASE("random checkpoints load for dense, MoE and latent-MoE configs") {
  const fs::path dir = fs::temp_directory_path() / ("random_ckpt_test_" + std::to_string(getpid()));
  for (const char* fixture : {"nano_fp32", "super_fp32"}) {
    INFO(fixture);
    auto cfg = fixture_config(kFixtures + "/" + fixture + "/config.json");
    cfg["num_nextn_predict_layers"] = 0;  // the writer writes no MTP layers
    write_random_checkpoint(dir.string(), cfg);
    auto model = NemotronH::load(dir.string());
    CHECK(model->weights().config.torch_dtype == "bfloat16");
    CHECK(model->weights().mapped_bytes >= 2 * static_cast<size_t>(checkpoint_parameters(model->config())));
    std::vector<float> logits(static_cast<size_t>(model->config().vocab_size));
    ModelState s = model->new_state();
    const int32_t tokens[] = {1, 2, 3};
    model->forward(s, tokens, 3, logits.data(), false);
    for (float x : logits) REQUIRE(std::isfinite(x));
    fs::remove_all(dir);
  }
}

TEST_CASE("the compiled-in 30B config agrees with the fixture") {
  std::ifstream in(kFixtures + "/configs/nemotron3_nano_30b_a3b.json");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  const ModelConfig fixture = parse_model_config(text), compiled = parse_model_config(nemotron3_nano_30b_a3b_config().dump());
  CHECK(fixture.pattern() == compiled.pattern());
  CHECK(checkpoint_parameters(fixture) == checkpoint_parameters(compiled));
  const auto shapes_a = checkpoint_tensor_shapes(fixture), shapes_b = checkpoint_tensor_shapes(compiled);
  CHECK(shapes_a == shapes_b);
  // ~31.6B parameters: ~59 GiB in bf16.
  CHECK(checkpoint_parameters(compiled) > 30'000'000'000);
  CHECK(benchmark_shape_config("small").has_value());
  CHECK(!benchmark_shape_config("large").has_value());
}
