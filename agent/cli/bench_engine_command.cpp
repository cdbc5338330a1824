// `nagent bench-engine`: throughput of the embedded engine on a checkpoint directory or on a
// built-in shape with random weights: load time, prefill tokens/s of one P-token prompt, decode
// tokens/s of B sequences through LanguageModel::decode_batch, the memory of the weights and of
// one sequence's state, the device. A table on stdout, or one JSON object with --json.
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "agent/cli/arguments.h"
#include "agent/cli/command.h"
#include "engine/model_loader.h"
#include "engine/random_checkpoint.h"

#if NAGENT_CUDA
#include "engine/cuda/cuda_model.h"
#endif

namespace nagent::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kUsage =
    "usage: nagent bench-engine (--model DIR | --shape NAME) [--batch B] [--prompt-len P] [--gen-len G]\n"
    "                           [--device cpu|cuda|cuda:N|auto] [--threads N] [--json]\n"
    "  --model DIR       a checkpoint directory (config.json + safetensors)\n"
    "  --shape NAME      random bf16 weights of a built-in shape: small (~104M parameters, H 768,\n"
    "                    M-M-M*-M-M-M*-, vocab 32000) or nemotron-3-nano-30b-a3b (~59 GiB of weights)\n"
    "  --batch B         sequences decoded together through decode_batch (default 1)\n"
    "  --prompt-len P    prompt tokens of the prefill (default 128)\n"
    "  --gen-len G       decode steps per sequence (default 32)\n"
    "  --device D        cpu, cuda, cuda:N or auto (default auto)\n"
    "  --json            one JSON object instead of the table\n";

constexpr const char* kShapes = "small, nemotron-3-nano-30b-a3b";

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string gib(double bytes) {
  char buf[64];
  if (bytes >= double(1 << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / double(1 << 30));
  else std::snprintf(buf, sizeof buf, "%.2f MiB", bytes / double(1 << 20));
  return buf;
}

nlohmann::json shape_config(const std::string& name) {
  if (auto c = engine::benchmark_shape_config(name)) return *c;
  throw UsageError("unknown shape '" + name + "' (known: " + kShapes + ")");
}

size_t state_bytes(const engine::ModelState& s) {
  size_t n = 0;
  for (const auto& l : s.layers) n += (l.conv.size() + l.ssm.size() + l.k.size() + l.v.size()) * sizeof(float);
  return n;
}

int bench_engine_main(const std::vector<std::string>& args) {
  Arguments a;
  int64_t B = 1, P = 128, G = 32;
  engine::EngineOptions eo;
  nlohmann::json shape;
  engine::DeviceChoice device;
  try {
    a = parse_arguments(args, {"--model", "--shape", "--batch", "--prompt-len", "--gen-len", "--device", "--threads"},
                        {"--help", "--json"});
    if (a.has("--help")) {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
    if (a.get("--model").has_value() == a.get("--shape").has_value())
      throw UsageError("bench-engine needs exactly one of --model DIR or --shape NAME");
    if (!a.positional.empty()) throw UsageError("unexpected argument '" + a.positional[0] + "'");
    B = a.integer("--batch", 1, 1, 4096);
    P = a.integer("--prompt-len", 128, 1, 1 << 20);
    G = a.integer("--gen-len", 32, 1, 1 << 20);
    eo.threads = static_cast<int>(a.integer("--threads", 0, 0, 1024));
    if (auto s = a.get("--shape")) shape = shape_config(*s);
    device = engine::resolve_device(a.get("--device").value_or("auto"));
  } catch (const std::exception& e) {
    return fail(kExitUsage, std::string(e.what()) + "\n" + kUsage);
  }

  // The model: a checkpoint directory, or a built-in shape's random weights (generated on the GPU
  // for CUDA, written to a temporary checkpoint for the CPU).
  std::unique_ptr<engine::LanguageModel> model;
  std::string source;
  fs::path temp_dir;
  double write_s = 0, load_s = 0;
  int64_t weight_bytes = 0;
  std::string memory_report;
  if (a.get("--model")) {
    source = *a.get("--model");
    const double t0 = now();
    model = engine::load_language_model(source, a.get("--device").value_or("auto"), eo);
    load_s = now() - t0;
  } else {
    source = "shape " + *a.get("--shape") + " (random weights)";
    const engine::ModelConfig c = engine::parse_model_config(shape.dump());
    const int64_t params = engine::checkpoint_parameters(c);
    const double need = 2.0 * double(params);  // bf16
    if (device.cuda) {
#if NAGENT_CUDA
      engine::cuda::CudaOptions o;
      o.device = device.ordinal;
      o.max_batch = std::clamp<int64_t>(std::max(P, B), 256, 8192);  // prefill runs in chunks of this
      o.kv_capacity = std::max<int64_t>(1 << 16, B * (P + G + 256));
      o.dt_clamp = eo.dt_clamp;
      const double t0 = now();
      model = std::make_unique<engine::cuda::CudaNemotronH>(c, 42, o);
      load_s = now() - t0;
#endif
    } else {
      // The checkpoint is built in memory, written, then mapped: it needs its size in memory and
      // on the temporary directory's disk.
      const double mem = double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGE_SIZE));
      if (need * 1.1 > mem)
        return fail(kExitUsage, "shape " + *a.get("--shape") + " has " + std::to_string(params) +
                                    " parameters: its random bf16 weights (" + gib(need) + ") need about " +
                                    gib(need * 1.1) + " of memory on the CPU and this machine has " + gib(mem) +
                                    " (use --device cuda on a GPU that holds them, or --shape small)");
      temp_dir = fs::temp_directory_path() / ("nagent_bench_engine_" + std::to_string(getpid()));
      struct statvfs vfs {};
      if (statvfs(fs::temp_directory_path().c_str(), &vfs) == 0 &&
          need * 1.05 > double(vfs.f_bavail) * double(vfs.f_frsize))
        return fail(kExitUsage, "shape " + *a.get("--shape") + ": its random checkpoint needs " + gib(need * 1.05) +
                                    " of disk under " + fs::temp_directory_path().string() + ", which has " +
                                    gib(double(vfs.f_bavail) * double(vfs.f_frsize)) + " free (set TMPDIR)");
      const double t0 = now();
      engine::write_random_checkpoint(temp_dir.string(), shape);
      write_s = now() - t0;
      const double t1 = now();
      model = engine::NemotronH::load(temp_dir.string(), eo);
      load_s = now() - t1;
    }
  }
  if (auto* cpu = dynamic_cast<engine::NemotronH*>(model.get())) {
    weight_bytes = static_cast<int64_t>(cpu->weights().mapped_bytes);
  }
#if NAGENT_CUDA
  if (auto* gpu = dynamic_cast<engine::cuda::CudaNemotronH*>(model.get())) {
    for (const auto& [component, bytes] : gpu->memory().components())
      if (component.find("kv") == std::string::npos && component.find("workspace") == std::string::npos &&
          component.find("state") == std::string::npos)
        weight_bytes += bytes;
    memory_report = gpu->memory().report();
  }
#endif

  const engine::ModelConfig c = model->config();
  const std::string description = model->device_description();
  const int64_t V = c.vocab_size;
  std::mt19937 rng(1);
  // Prefill: B prompts of P tokens, one forward each; the rate is the best of the B (at B = 1 the
  // only one, which reads cold pages of a mapped checkpoint).
  std::vector<engine::ModelState> states;
  std::vector<int32_t> next(static_cast<size_t>(B));
  std::vector<float> logits(static_cast<size_t>(B * V));
  double best_prefill = 1e300;
  for (int64_t i = 0; i < B; ++i) {
    std::vector<int32_t> prompt(static_cast<size_t>(P));
    for (auto& t : prompt) t = static_cast<int32_t>(3 + rng() % static_cast<uint32_t>(std::max<int64_t>(1, V - 3)));
    states.push_back(model->new_state());
    const double t0 = now();
    model->forward(states.back(), prompt.data(), P, logits.data(), false);
    best_prefill = std::min(best_prefill, now() - t0);
    next[i] = static_cast<int32_t>(std::max_element(logits.begin(), logits.begin() + V) - logits.begin());
  }
  // Decode: G greedy steps of all B sequences, one decode_batch per step.
  std::vector<engine::ModelState*> ptrs;
  for (auto& s : states) ptrs.push_back(&s);
  const double t0 = now();
  for (int64_t step = 0; step < G; ++step) {
    model->decode_batch(ptrs.data(), next.data(), B, logits.data());
    for (int64_t i = 0; i < B; ++i) {
      const float* row = &logits[i * V];
      next[i] = static_cast<int32_t>(std::max_element(row, row + V) - row);
    }
  }
  const double decode_s = now() - t0;
  const size_t state = state_bytes(model->host_state(states[0]));
  if (!temp_dir.empty()) {
    model.reset();
    fs::remove_all(temp_dir);
  }

  const double prefill_tps = double(P) / best_prefill, decode_tps = double(B * G) / decode_s;
  nlohmann::json j = {{"source", source},
                      {"device", description},
                      {"pattern", c.pattern()},
                      {"parameters", engine::checkpoint_parameters(c)},
                      {"batch", B},
                      {"prompt_len", P},
                      {"gen_len", G},
                      {"checkpoint_write_s", write_s},
                      {"load_s", load_s},
                      {"prefill_s", best_prefill},
                      {"prefill_tokens_per_s", prefill_tps},
                      {"decode_s", decode_s},
                      {"decode_tokens_per_s", decode_tps},
                      {"decode_tokens_per_s_per_sequence", decode_tps / double(B)},
                      {"weight_bytes", weight_bytes},
                      {"state_bytes_per_sequence", state}};
  if (a.has("--json")) {
    std::printf("%s\n", j.dump().c_str());
    return kExitOk;
  }
  std::printf("model       %s\n", source.c_str());
  std::printf("device      %s\n", description.c_str());
  std::printf("layers      %s (%.1fM parameters)\n", c.pattern().c_str(), double(j["parameters"].get<int64_t>()) / 1e6);
  if (write_s > 0) std::printf("checkpoint  written in %.2f s (random bf16)\n", write_s);
  std::printf("load        %.3f s\n", load_s);
  std::printf("prefill     %10.1f tok/s   (%lld-token prompt, %.1f ms)\n", prefill_tps, static_cast<long long>(P),
              best_prefill * 1e3);
  std::printf("decode      %10.2f tok/s   (batch %lld, %lld steps; %.2f tok/s per sequence)\n", decode_tps,
              static_cast<long long>(B), static_cast<long long>(G), decode_tps / double(B));
  std::printf("weights     %s\n", gib(double(weight_bytes)).c_str());
  std::printf("state       %s per sequence (host form, fp32, after %lld tokens)\n", gib(double(state)).c_str(),
              static_cast<long long>(P + G));
  if (!memory_report.empty()) std::printf("GPU memory by component:\n%s", memory_report.c_str());
  return kExitOk;
}

const bool registered =
    register_command({"bench-engine", "throughput of the embedded engine (prefill, batched decode, memory)", &bench_engine_main});

}  // namespace
}  // namespace nagent::cli
