// CPU throughput of the embedded NemotronH engine at batch 1: load time, prefill and decode
// tokens/s, against two baselines measured in the same run: the memory-bandwidth roofline of
// decode (every weight byte read once per token, at the copy bandwidth measured here) and,
// when given --torch FILE (scripts/engine_reference/bench_torch.py's JSON from the same
// machine and run), PyTorch eager: then the prompt is PyTorch's, and the last-position logits
// are checked against the ones it saved (relative error printed; exit status 1 above 5e-2).
//
//   bench_engine_cpu [--model DIR] [--threads N] [--prefill N] [--decode N] [--torch FILE]
//                    [--fp32-activations]   (BF16 weights: the exact path instead of AMX tiles)
//                    [--batch B[,B...]]
// --batch: batched decode instead. B sequences (prompts of different lengths up to --prefill,
// prefilled separately) decode --decode greedy tokens each, once through decode_batch (one
// pass per step for all B) and once as B sequential forward() calls per step, alternating,
// best of 3 each; prints aggregate tokens/s of both, the ratio, and whether the tokens agree.
// Without --model it writes a ~100M-parameter random BF16 checkpoint (the bench_torch.py shape)
// to a temporary directory first.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/cpu_kernels.h"
#include "engine/engine_session.h"
#include "engine/nemotronh.h"
#include "engine/random_checkpoint.h"
#include "engine/safetensors.h"

using namespace nagent::engine;
namespace fs = std::filesystem;

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The bench_torch.py shape (engine/random_checkpoint.h), in a temporary directory.
std::string write_random_checkpoint() {
  const fs::path dir = fs::temp_directory_path() / ("nagent_bench_ckpt_" + std::to_string(getpid()));
  nagent::engine::write_random_checkpoint(dir.string(), small_benchmark_config());
  return dir.string();
}

// Copy bandwidth (bytes read + written per second) over a buffer far larger than the caches.
double copy_bandwidth(ThreadPool& pool) {
  const size_t n = size_t(1) << 28;  // 256 MiB each way
  std::vector<char> a(n, 1), b(n, 0);
  double best = 1e9;
  for (int rep = 0; rep < 3; ++rep) {
    const double t0 = now();
    const int64_t parts = pool.size() * 4;
    pool.run(parts, [&](int64_t i) {
      const size_t lo = n * i / parts, hi = n * (i + 1) / parts;
      std::memcpy(&b[lo], &a[lo], hi - lo);
    });
    best = std::min(best, now() - t0);
  }
  return 2.0 * n / best;
}

size_t weight_bytes_per_token(const ModelWeights& w) {
  size_t bytes = w.lm_head.bytes();
  for (const auto& l : w.layers) {
    switch (l.type) {
      case LayerType::kMamba: bytes += l.mamba.in_proj.bytes() + l.mamba.out_proj.bytes(); break;
      case LayerType::kAttention:
        bytes += l.attention.q.bytes() + l.attention.k.bytes() + l.attention.v.bytes() + l.attention.o.bytes();
        break;
      case LayerType::kMlp: bytes += l.mlp.up.bytes() + l.mlp.down.bytes(); break;
      case LayerType::kMoe: {
        // Active experts only: k routed + shared + latent projections.
        const auto& e = l.moe;
        const size_t expert = e.experts.empty() ? 0 : e.experts[0].up.bytes() + e.experts[0].down.bytes();
        bytes += expert * static_cast<size_t>(w.config.num_experts_per_tok) +
                 (e.has_shared ? e.shared.up.bytes() + e.shared.down.bytes() : 0) +
                 (e.latent ? e.fc1_latent.bytes() + e.fc2_latent.bytes() : 0);
        break;
      }
    }
  }
  return bytes;
}

// --batch B: aggregate greedy decode tokens/s of B sequences, decode_batch vs B forward() calls.
// Returns false when the two disagree on a token.
bool bench_batch(NemotronH& model, int64_t B, int64_t prefill, int64_t decode) {
  const int64_t V = model.config().vocab_size;
  std::mt19937 rng(static_cast<uint32_t>(B));
  std::vector<ModelState> start;
  std::vector<int32_t> first(static_cast<size_t>(B));
  std::vector<float> logits(static_cast<size_t>(V));
  for (int64_t i = 0; i < B; ++i) {
    // Different lengths: prefill * (B - i) / B tokens, at least 1.
    std::vector<int32_t> prompt(static_cast<size_t>(std::max<int64_t>(1, prefill * (B - i) / B)));
    for (auto& t : prompt) t = static_cast<int32_t>(3 + rng() % (V - 3));
    start.push_back(model.new_state());
    model.forward(start.back(), prompt.data(), static_cast<int64_t>(prompt.size()), logits.data(), false);
    first[i] = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
  std::vector<float> batch_logits(static_cast<size_t>(B * V));
  std::vector<int32_t> out_batched, out_sequential;
  double best_batched = 1e9, best_sequential = 1e9;
  for (int rep = 0; rep < 6; ++rep) {
    std::vector<ModelState> states = start;
    std::vector<int32_t> next = first, out;
    const bool batched = (rep % 2 == 0) == (B % 2 == 0);  // alternate, starting differently per B
    const double t0 = now();
    if (batched) {
      std::vector<ModelState*> ptrs;
      for (auto& s : states) ptrs.push_back(&s);
      for (int64_t step = 0; step < decode; ++step) {
        model.decode_batch(ptrs.data(), next.data(), B, batch_logits.data());
        for (int64_t i = 0; i < B; ++i) {
          const float* row = &batch_logits[i * V];
          out.push_back(next[i] = static_cast<int32_t>(std::max_element(row, row + V) - row));
        }
      }
    } else {
      for (int64_t step = 0; step < decode; ++step)
        for (int64_t i = 0; i < B; ++i) {
          model.forward(states[i], &next[i], 1, logits.data(), false);
          out.push_back(next[i] = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) -
                                                       logits.begin()));
        }
    }
    const double dt = now() - t0;
    if (batched) {
      best_batched = std::min(best_batched, dt);
      out_batched = out;
    } else {
      best_sequential = std::min(best_sequential, dt);
      out_sequential = out;
    }
  }
  const double tokens = static_cast<double>(B * decode);
  const bool same = out_batched == out_sequential;
  std::printf("batch %3lld: decode_batch %8.2f tok/s, sequential forward %8.2f tok/s, ratio %.2fx; tokens %s\n",
              static_cast<long long>(B), tokens / best_batched, tokens / best_sequential,
              best_sequential / best_batched, same ? "equal" : "DIFFER");
  return same;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_dir, torch_file;
  int threads = 0;
  int64_t prefill = 128, decode = 32;
  bool bf16_activations = true;
  std::vector<int64_t> batches;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_engine_cpu: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--model") model_dir = next();
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--prefill") prefill = std::stoll(next());
    else if (a == "--decode") decode = std::stoll(next());
    else if (a == "--torch") torch_file = next();
    else if (a == "--fp32-activations") bf16_activations = false;
    else if (a == "--batch") {
      std::stringstream list(next());
      for (std::string b; std::getline(list, b, ',');) batches.push_back(std::stoll(b));
    } else {
      std::fprintf(stderr,
                   "usage: bench_engine_cpu [--model DIR] [--threads N] [--prefill N] [--decode N] [--torch FILE] "
                   "[--fp32-activations] [--batch B[,B...]]\n");
      return 2;
    }
  }
  const bool own = model_dir.empty();
  if (own) model_dir = write_random_checkpoint();

  nlohmann::json torch;
  if (!torch_file.empty()) {
    std::ifstream in(torch_file);
    std::stringstream ss;
    ss << in.rdbuf();
    torch = nlohmann::json::parse(ss.str());
  }

  EngineOptions opts;
  opts.threads = threads;
  opts.bf16_activations = bf16_activations;
  const double t_load0 = now();
  auto model = NemotronH::load(model_dir, opts);
  const double load_s = now() - t_load0;
  const ModelConfig& c = model->config();
  const int64_t V = c.vocab_size;
  const bool amx = bf16_activations && matmul_has_amx() && c.torch_dtype == "bfloat16";
  std::printf("model %s: %s, %zu MB mapped, dtype %s; %d threads, matmul %s%s\n", model_dir.c_str(),
              c.pattern().c_str(), model->weights().mapped_bytes >> 20, c.torch_dtype.c_str(), model->pool().size(),
              matmul_isa(), amx ? " + amx-bf16 prefill (bf16 activations)" : ", fp32 activations");
  std::printf("load (parse + validate + mmap, weights not read): %.1f ms\n", load_s * 1e3);
  if (!batches.empty()) {
    std::printf("batched decode: %lld greedy tokens per sequence, prompts up to %lld tokens, best of 3\n",
                static_cast<long long>(decode), static_cast<long long>(prefill));
    bool ok = true;
    for (int64_t B : batches) ok &= bench_batch(*model, B, prefill, decode);
    if (own) fs::remove_all(model_dir);
    return ok ? 0 : 1;
  }

  std::mt19937 rng(1);
  std::vector<int32_t> prompt(static_cast<size_t>(prefill));
  for (auto& t : prompt) t = static_cast<int32_t>(3 + rng() % (V - 3));
  if (torch.contains("prompt_ids")) {
    prompt = torch["prompt_ids"].get<std::vector<int32_t>>();
    prefill = static_cast<int64_t>(prompt.size());
  }
  const std::string dt = c.torch_dtype == "bfloat16" ? "bf16" : "fp32";
  std::vector<float> prompt_logits;
  double best_prefill = 1e9, best_decode = 1e9, first_token = 0;
  for (int rep = 0; rep < 3; ++rep) {
    EngineSession s(*model);
    const double t0 = now();
    s.append(prompt);
    const double t1 = now();
    if (rep == 0) {
      first_token = t1 - t0;
      prompt_logits = s.last_logits();
    }
    int32_t next = static_cast<int32_t>(std::max_element(s.last_logits().begin(), s.last_logits().end()) -
                                        s.last_logits().begin());
    const double t2 = now();
    for (int64_t i = 0; i < decode; ++i) {
      const auto& l = s.append(&next, 1);
      next = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
    }
    const double t3 = now();
    best_prefill = std::min(best_prefill, t1 - t0);
    best_decode = std::min(best_decode, t3 - t2);
  }
  const double prefill_tps = prefill / best_prefill, decode_tps = decode / best_decode;
  std::printf("first token after load (cold pages, %lld-token prompt): %.1f ms\n", static_cast<long long>(prefill),
              first_token * 1e3);
  std::printf("prefill %lld tokens: %.1f tok/s\n", static_cast<long long>(prefill), prefill_tps);
  std::printf("decode  %lld tokens: %.2f tok/s\n", static_cast<long long>(decode), decode_tps);

  const double bw = copy_bandwidth(model->pool());
  const size_t per_token = weight_bytes_per_token(model->weights());
  // Decode reads each weight byte once: at most half the copy bandwidth (which counts read+write).
  const double roofline = (bw / 2.0) / static_cast<double>(per_token);
  std::printf("baseline roofline: %.1f GB/s copy, %.1f MB weights/token -> %.1f tok/s; decode at %.0f%% of it\n",
              bw / 1e9, per_token / 1e6, roofline, 100.0 * decode_tps / roofline);

  int status = 0;
  if (torch.contains(dt)) {
    const auto& j = torch[dt];
    const double tp = j["prefill_tok_s"].get<double>(), td = j["decode_tok_s"].get<double>();
    std::printf("baseline PyTorch eager %s (%d threads): prefill %.1f tok/s, decode %.2f tok/s\n", dt.c_str(),
                torch["threads"].get<int>(), tp, td);
    std::printf("ratio engine / PyTorch eager: prefill %.2fx, decode %.2fx\n", prefill_tps / tp, decode_tps / td);
    if (j.contains("last_logits")) {
      std::ifstream in(j["last_logits"].get<std::string>(), std::ios::binary);
      std::vector<float> ref(static_cast<size_t>(V));
      in.read(reinterpret_cast<char*>(ref.data()), static_cast<std::streamsize>(ref.size() * 4));
      double num = 0, den = 0;
      for (int64_t i = 0; i < V; ++i) {
        num += (double(prompt_logits[i]) - ref[i]) * (double(prompt_logits[i]) - ref[i]);
        den += double(ref[i]) * ref[i];
      }
      const double err = in ? std::sqrt(num / den) : INFINITY;
      std::printf("check vs PyTorch eager %s, last-position logits of the same prompt: rel err %.2e\n", dt.c_str(), err);
      if (!(err <= 5e-2)) status = 1;
    }
  }
  if (own) fs::remove_all(model_dir);
  return status;
}
