// `nagent logits`: runs token ids through the embedded engine and writes the logits of every
// position as float32 little-endian [n_tokens, vocab], for parity checks against a reference.
#include <cstdio>
#include <fstream>

#include "agent/cli/command.h"
#include "agent/cli/arguments.h"
#include "engine/engine_options.h"
#include "engine/nemotronh.h"

namespace nagent::cli {
namespace {

constexpr const char* kUsage =
    "usage: nagent logits --model DIR --ids 1,2,3 --out FILE [--threads N] [--dt-clamp limit|transformers]\n"
    "  Writes float32 little-endian logits [n_tokens, vocab] for every position to FILE.\n"
    "  --dt-clamp transformers   clamp Mamba dt as transformers 5.17 does (default: time_step_limit)\n";

int logits_main(const std::vector<std::string>& args) {
  Arguments a;
  try {
    a = parse_arguments(args, {"--model", "--ids", "--out", "--threads", "--dt-clamp"}, {"--help"});
    if (a.has("--help")) {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
    if (!a.get("--model") || !a.get("--ids") || !a.get("--out"))
      throw UsageError("logits needs --model, --ids and --out");
  } catch (const UsageError& e) {
    return fail(kExitUsage, std::string(e.what()) + "\n" + kUsage);
  }
  std::vector<int32_t> ids;
  engine::EngineOptions opts;
  try {
    ids = engine::parse_token_ids(*a.get("--ids"));
    opts.threads = static_cast<int>(a.integer("--threads", 0, 0, 1024));
    opts.dt_clamp = engine::parse_dt_clamp(a.get("--dt-clamp").value_or("limit"));
  } catch (const std::exception& e) {
    return fail(kExitUsage, e.what());
  }
  auto model = engine::NemotronH::load(*a.get("--model"), opts);
  const int64_t V = model->config().vocab_size;
  std::vector<float> logits(ids.size() * V);
  engine::ModelState state = model->new_state();
  model->forward(state, ids.data(), static_cast<int64_t>(ids.size()), logits.data(), true);
  std::ofstream out(*a.get("--out"), std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(logits.data()), static_cast<std::streamsize>(logits.size() * sizeof(float)));
  if (!out) return fail(kExitRuntime, "cannot write " + *a.get("--out"));
  std::fprintf(stderr, "nagent logits: wrote [%zu, %lld] float32 to %s\n", ids.size(), static_cast<long long>(V),
               a.get("--out")->c_str());
  return kExitOk;
}

const bool registered = register_command({"logits", "logits of token ids from the embedded engine (parity checks)", &logits_main});

}  // namespace
}  // namespace nagent::cli
