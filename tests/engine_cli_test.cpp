// `nagent logits` and `nagent generate` as real subprocesses on the nano fixture: the logits
// file matches transformers' reference at every position; greedy generation prints
// transformers' tokens; bad input gives a usage error.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/safetensors.h"
#include "support/logits_file.h"

using namespace nagent::engine;
namespace fs = std::filesystem;

namespace {

const std::string kNano = std::string(NAGENT_SOURCE_DIR) + "/tests/fixtures/nemotronh/nano_fp32";

struct Result {
  int code;
  std::string out;
};

Result run(const std::string& args) {
  const std::string cmd = std::string(NAGENT_BINARY) + " " + args + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p);
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string join(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

}  // namespace

TEST_CASE("nagent logits writes [n, vocab] float32 equal to the reference") {
  auto ref = SafetensorsFile::open(kNano + "/reference.safetensors");
  const TensorInfo* ids_t = ref->find("prompt_ids");
  const auto* ids = reinterpret_cast<const int64_t*>(ref->data(*ids_t));
  const std::vector<int64_t> prompt(ids, ids + ids_t->numel());
  const TensorInfo* lt = ref->find("prefill_logits");
  const auto* expect = reinterpret_cast<const float*>(ref->data(*lt));

  const fs::path out = fs::temp_directory_path() / ("engine_cli_logits_" + std::to_string(getpid()) + ".bin");
  const Result r = run("logits --model " + kNano + " --ids " + join(prompt) + " --out " + out.string());
  REQUIRE(r.code == 0);
  CHECK(logits_relative_error(out, expect, lt->numel()) < 1e-4);
  fs::remove(out);
}

TEST_CASE("nagent generate --ids greedy prints transformers' tokens") {
  auto ref = SafetensorsFile::open(kNano + "/reference.safetensors");
  const TensorInfo* ids_t = ref->find("prompt_ids");
  const auto* ids = reinterpret_cast<const int64_t*>(ref->data(*ids_t));
  const TensorInfo* dec_t = ref->find("decode_ids");
  const auto* dec = reinterpret_cast<const int64_t*>(ref->data(*dec_t));
  const Result r = run("generate --model " + kNano + " --ids " + join({ids, ids + ids_t->numel()}) +
                       " --max-tokens 16 --json --logprobs");
  REQUIRE(r.code == 0);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["ids"].get<std::vector<int64_t>>() == std::vector<int64_t>(dec, dec + 16));
  CHECK(j["finish_reason"] == "length");
  CHECK(j["logprobs"].size() == 16);
}

TEST_CASE("engine subcommands reject bad input with usage errors") {
  CHECK(run("generate --model " + kNano + " --ids 1,x").code == 2);
  CHECK(run("generate --model " + kNano).code == 2);
  CHECK(run("logits --model " + kNano + " --ids 1,2").code == 2);  // no --out
  CHECK(run("logits --model /nonexistent --ids 1 --out /tmp/x").code == 3);
  CHECK(run("generate --model " + kNano + " --ids 1 --dt-clamp sometimes").code == 2);
}
