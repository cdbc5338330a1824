// `nagent generate`: raw generation with the embedded engine, streaming text to stdout (or,
// with --ids, from token ids without a tokenizer), timings on stderr.
#include <chrono>
#include <cstdio>
#include <random>

#include <nlohmann/json.hpp>

#include "agent/cli/arguments.h"
#include "agent/cli/command.h"
#include "engine/engine_options.h"
#include "engine/generation.h"
#include "engine/model_loader.h"
#include "engine/tokenizer.h"

namespace nagent::cli {
namespace {

constexpr const char* kUsage =
    "usage: nagent generate --model DIR (--prompt TEXT | --ids 1,2,3) [--max-tokens N] [--temperature T]\n"
    "                       [--top-k K] [--top-p P] [--min-p P] [--seed S] [--stop STRING] [--json]\n"
    "                       [--logprobs] [--threads N] [--dt-clamp limit|transformers] [--device D]\n"
    "                       [--tensor-parallel N]\n"
    "  --prompt TEXT    raw text, tokenized with DIR/tokenizer.json (no chat template)\n"
    "  --ids 1,2,3      token ids instead of text (no tokenizer needed; prints ids)\n"
    "  --temperature T  0 = greedy (default 0)\n"
    "  --stop STRING    also stop when the text contains STRING (always: <|im_end|> and EOS)\n"
    "  --device D       cpu, cuda, cuda:N or auto (default: a CUDA GPU when this build has CUDA and one is present)\n"
    "  --tensor-parallel N  shard the model over N GPUs from the --device one (tensor + expert parallel, NCCL;\n"
    "                   default 1)\n"
    "  --json           print one JSON object (text, ids, finish_reason, logprobs) instead of streaming\n";

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double number(const Arguments& a, const std::string& name, double fallback, double lo, double hi) {
  const auto v = a.get(name);
  if (!v) return fallback;
  char* end = nullptr;
  const double d = std::strtod(v->c_str(), &end);
  if (v->empty() || *end != '\0' || !(d >= lo && d <= hi))
    throw UsageError(name + " expects a number from " + std::to_string(lo) + " to " + std::to_string(hi) + ", got '" +
                     *v + "'");
  return d;
}

int generate_main(const std::vector<std::string>& args) {
  Arguments a;
  engine::GenerationOptions g;
  engine::EngineOptions eo;
  std::vector<int32_t> ids;
  try {
    a = parse_arguments(args,
                        {"--model", "--prompt", "--ids", "--max-tokens", "--temperature", "--top-k", "--top-p",
                         "--min-p", "--seed", "--stop", "--threads", "--dt-clamp", "--device", "--tensor-parallel"},
                        {"--help", "--json", "--logprobs"});
    if (a.has("--help")) {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
    if (!a.get("--model")) throw UsageError("generate needs --model DIR");
    if (a.get("--prompt").has_value() == a.get("--ids").has_value())
      throw UsageError("generate needs exactly one of --prompt TEXT or --ids 1,2,3");
    g.max_tokens = a.integer("--max-tokens", 256, 1, 1 << 24);
    g.sampling.temperature = number(a, "--temperature", 0.0, 0.0, 100.0);
    g.sampling.top_k = static_cast<int>(a.integer("--top-k", 0, 0, 1 << 24));
    g.sampling.top_p = number(a, "--top-p", 1.0, 0.0, 1.0);
    g.sampling.min_p = number(a, "--min-p", 0.0, 0.0, 1.0);
    g.sampling.seed = a.get("--seed") ? static_cast<uint64_t>(a.integer("--seed", 0, 0, INT64_MAX)) : std::random_device{}();
    g.logprobs = a.has("--logprobs");
    if (auto s = a.get("--stop")) g.stop_strings.push_back(*s);
    eo.threads = static_cast<int>(a.integer("--threads", 0, 0, 1024));
    eo.dt_clamp = engine::parse_dt_clamp(a.get("--dt-clamp").value_or("limit"));
    eo.tensor_parallel = engine::parse_tensor_parallel(a.get("--tensor-parallel").value_or("1"));
    if (auto s = a.get("--ids")) ids = engine::parse_token_ids(*s);
  } catch (const std::exception& e) {
    return fail(kExitUsage, std::string(e.what()) + "\n" + kUsage);
  }

  const std::string dir = *a.get("--model");
  std::unique_ptr<engine::LanguageModel> model;
  try {
    model = engine::load_language_model(dir, a.get("--device").value_or("auto"), eo);
  } catch (const std::invalid_argument& e) {
    return fail(kExitUsage, e.what());
  }
  std::unique_ptr<Tokenizer> tok;
  if (a.get("--prompt")) {
    tok = std::make_unique<Tokenizer>(Tokenizer::from_model_dir(dir));
    ids = tok->encode(*a.get("--prompt"));
    if (auto id = tok->token_to_id("<|im_end|>")) g.stop_ids.push_back(*id);
    if (auto id = tok->eos_id()) g.stop_ids.push_back(*id);
  }
  for (int64_t id : model->config().eos_token_ids) g.stop_ids.push_back(static_cast<int32_t>(id));
  if (ids.empty()) return fail(kExitUsage, "the prompt is empty");

  const bool json_out = a.has("--json");
  engine::EngineSession session(*model);
  const double t0 = now();
  session.sync(ids);
  const double t1 = now();
  auto result = engine::generate(session, ids, g, tok.get(), [&](const std::string& piece) {
    if (!json_out) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    }
    return true;
  });
  const double t2 = now();
  if (json_out) {
    nlohmann::json j = {{"ids", result.tokens}, {"finish_reason", result.finish_reason}};
    if (tok) j["text"] = result.text;
    if (g.logprobs) j["logprobs"] = result.logprobs;
    std::printf("%s\n", j.dump().c_str());
  } else if (!tok) {
    std::printf("%s\n", nlohmann::json(result.tokens).dump().c_str());
  } else {
    std::printf("\n");
    if (g.logprobs) std::fprintf(stderr, "logprobs %s\n", nlohmann::json(result.logprobs).dump().c_str());
  }
  const size_t n = result.tokens.size();
  std::fprintf(stderr, "nagent generate: prompt %zu tokens in %.0f ms (%.1f tok/s), %zu tokens in %.0f ms (%.1f tok/s), %s\n",
               ids.size(), (t1 - t0) * 1e3, ids.size() / (t1 - t0), n, (t2 - t1) * 1e3, n / std::max(1e-9, t2 - t1),
               result.finish_reason.c_str());
  return kExitOk;
}

const bool registered = register_command({"generate", "raw text generation with the embedded engine", &generate_main});

}  // namespace
}  // namespace nagent::cli
