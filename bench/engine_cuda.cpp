// GPU throughput of the CUDA engine on a benchmark shape with random weights generated on the
// GPU (default: Nemotron 3 Nano 30B-A3B's config): batch-1 decode tokens/s against the
// memory-bandwidth roofline (weight and state bytes one token reads, over the device-to-device
// copy bandwidth measured in this run), and prefill tokens/s against the bf16 GEMM rate
// measured in this run (cuBLASLt, 8192^3). Decode runs with the CUDA graph of the step on and
// off and with gemv.cu's fast GEMV on and off; a kernel table times the one-token products of
// the model's shapes through gemv1, the older warp-per-row GEMV and cuBLASLt at M = 1. Batched
// decode (decode_batch_device) of B sessions at the prompt's context: aggregate tokens/s against
// the roofline of the bytes that step reads: every dense weight once, the distinct routed
// experts the step selected (counted from the router output over a few extra steps), and each
// session's states and KV cache. The step at a long context (--long, default 128K tokens,
// prefilled in --prefill chunks; 0 skips it) against the step at --prompt: a hybrid model's step
// should barely grow with context (6 attention layers of 52 read the KV cache).
// --profile B instead runs one eager decode step of B sessions at context --prompt between
// cudaProfilerStart and Stop, for `ncu --profile-from-start off` (run_engine_cuda.sh PROFILE=1);
// --profile-prefill 1 the same for one prefill of --prefill tokens.
//   bench_engine_cuda [--config FILE] [--prompt N] [--decode N] [--prefill N] [--long N] [--batch B,B,...]
//                     [--profile B] [--profile-prefill 1]
#include <cuda_profiler_api.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "engine/cuda/cuda_check.h"
#include "engine/cuda/cuda_model.h"
#include "engine/cuda/kernels.h"
#include "engine/model_config.h"

using namespace nagent::engine;
namespace cu = nagent::engine::cuda;

namespace {

struct Timer {
  cudaEvent_t a, b;
  cudaStream_t s;
  explicit Timer(cudaStream_t st) : s(st) {
    NAGENT_CUDA_CHECK(cudaEventCreate(&a));
    NAGENT_CUDA_CHECK(cudaEventCreate(&b));
  }
  void start() { NAGENT_CUDA_CHECK(cudaEventRecord(a, s)); }
  double stop_ms() {
    NAGENT_CUDA_CHECK(cudaEventRecord(b, s));
    NAGENT_CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    NAGENT_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    return ms;
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Device-to-device copy of 4 GiB: bytes read + written per second.
double copy_bandwidth(cudaStream_t st) {
  const size_t bytes = size_t(4) << 30;
  cu::DeviceBuffer a(bytes, nullptr, ""), b(bytes, nullptr, "");
  cu::fill_uniform_f32(a.as<float>(), bytes / 4, -1, 1, 1, st);
  Timer t(st);
  std::vector<double> ms;
  for (int i = 0; i < 12; ++i) {
    t.start();
    NAGENT_CUDA_CHECK(cudaMemcpyAsync(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice, st));
    ms.push_back(t.stop_ms());
  }
  ms.erase(ms.begin(), ms.begin() + 2);
  return 2.0 * bytes / (median(ms) * 1e-3);
}

double gemm_rate(cudaStream_t st) {
  const int64_t n = 8192;
  cu::MemoryLedger ledger;
  cu::Gemm gemm(st, &ledger);
  cu::DeviceBuffer w(n * n * 2, nullptr, ""), x(n * n * 2, nullptr, ""), y(n * n * 4, nullptr, "");
  cu::fill_uniform_bf16(w.as<cu::bf16>(), n * n, 1.0f, 2, st);
  cu::fill_uniform_bf16(x.as<cu::bf16>(), n * n, 1.0f, 3, st);
  Timer t(st);
  std::vector<double> ms;
  for (int i = 0; i < 12; ++i) {
    t.start();
    gemm.run_bf16({w.as<cu::bf16>(), n, n}, x.as<cu::bf16>(), n, n, y.as<float>(), n);
    ms.push_back(t.stop_ms());
  }
  ms.erase(ms.begin(), ms.begin() + 2);
  return 2.0 * n * n * n / (median(ms) * 1e-3);
}

// One token's product y = W x (W [N, K] bf16) through three paths, each over rotating copies of
// W (more than the L2 between reuses); returns GB/s of weight bytes for gemv1, old, cuBLASLt.
struct GemvRow {
  int64_t N, K;
  double fast, old, lt;
};
GemvRow gemv_paths(cudaStream_t st, int64_t N, int64_t K) {
  const size_t bytes = size_t(N) * K * 2;
  // Enough copies that one pass over them (256 MiB or more) flushes the 50 MB L2.
  const int copies = static_cast<int>(std::max<size_t>(2, std::min<size_t>(512, (size_t(256) << 20) / bytes + 1)));
  std::vector<cu::DeviceBuffer> w;
  for (int i = 0; i < copies; ++i) {
    w.emplace_back(bytes, nullptr, "");
    cu::fill_uniform_bf16(w.back().as<cu::bf16>(), N * K, 0.05f, 100 + i, st);
  }
  cu::DeviceBuffer x(K * 4, nullptr, ""), xb(K * 2, nullptr, ""), y(N * 4, nullptr, "");
  cu::fill_uniform_f32(x.as<float>(), K, -1, 1, 7, st);
  cu::to_bf16(x.as<float>(), xb.as<cu::bf16>(), K, st);
  cu::MemoryLedger ledger;
  cu::Gemm gemm(st, &ledger);
  Timer t(st);
  auto time = [&](int path) {
    std::vector<double> ms;
    for (int rep = 0; rep < 5; ++rep) {
      t.start();
      for (int i = 0; i < 2 * copies; ++i) {
        const cu::DeviceMatrix W{w[i % copies].as<cu::bf16>(), N, K};
        if (path == 2) {
          gemm.run_bf16(W, xb.as<cu::bf16>(), K, 1, y.as<float>(), N);
        } else {
          gemm.set_fast_gemv(path == 0);
          gemm.run(W, x.as<float>(), 1, y.as<float>(), N);
        }
      }
      ms.push_back(t.stop_ms() / (2 * copies));
    }
    return double(bytes) / (median(ms) * 1e-3) / 1e9;
  };
  time(0), time(1), time(2);  // warm-up (kernel attributes, cuBLASLt heuristics)
  return {N, K, time(0), time(1), time(2)};
}

// Bytes one decode step of B sequences at context `ctx` reads: every dense weight once,
// `experts` routed experts of each MoE layer once each, and per sequence its Mamba states (read
// and written), its KV cache and one embedding row.
struct StepBytes {
  double dense = 0, experts = 0, per_seq = 0;
  double total() const { return dense + experts + per_seq; }
};
StepBytes step_bytes(const ModelConfig& c, int64_t ctx, int64_t B, double experts) {
  const double H = c.hidden_size, b = 2;
  StepBytes r;
  r.dense = double(c.vocab_size) * H * b;
  r.per_seq = B * H * b;
  const double kvd = double(c.num_key_value_heads) * c.head_dim, qd = double(c.num_attention_heads) * c.head_dim;
  for (LayerType t : c.layers) {
    switch (t) {
      case LayerType::kMamba:
        r.dense += (double(c.in_proj_out()) * H + H * c.d_inner()) * b;
        r.per_seq += B * 2.0 * 4 *
                     ((c.conv_kernel - 1) * double(c.conv_dim()) +
                      double(c.mamba_num_heads) * c.mamba_head_dim * c.ssm_state_size);
        break;
      case LayerType::kAttention:
        r.dense += (2 * qd * H + 2 * kvd * H) * b;
        r.per_seq += B * 2 * kvd * ctx * b;
        break;
      case LayerType::kMlp: r.dense += 2.0 * H * c.intermediate_size * b; break;
      case LayerType::kMoe:
        r.dense += double(c.n_routed_experts) * H * 4;
        r.experts += experts * 2 * c.latent() * c.moe_intermediate_size * b;
        if (c.n_shared_experts) r.dense += 2.0 * H * c.shared_width() * b;
        if (c.moe_latent_size) r.dense += 2.0 * H * c.latent() * b;
        break;
    }
  }
  return r;
}

// Bytes one decode token at context `ctx` reads (batch 1: its k routed experts per MoE layer).
double decode_bytes(const ModelConfig& c, int64_t ctx) {
  return step_bytes(c, ctx, 1, double(c.num_experts_per_tok)).total();
}

// Multiply-adds per token (x2 = FLOP) of the projections, plus attention over `ctx` keys.
double token_flops(const ModelConfig& c, double ctx) {
  const double H = c.hidden_size;
  const double kvd = double(c.num_key_value_heads) * c.head_dim, qd = double(c.num_attention_heads) * c.head_dim;
  double macs = double(c.vocab_size) * H;
  for (LayerType t : c.layers) {
    switch (t) {
      case LayerType::kMamba: macs += double(c.in_proj_out()) * H + H * c.d_inner(); break;
      case LayerType::kAttention: macs += 2 * qd * H + 2 * kvd * H + 2 * qd * ctx; break;
      case LayerType::kMlp: macs += 2.0 * H * c.intermediate_size; break;
      case LayerType::kMoe:
        macs += double(c.num_experts_per_tok) * 2 * c.latent() * c.moe_intermediate_size +
                (c.n_shared_experts ? 2.0 * H * c.shared_width() : 0) + double(c.n_routed_experts) * H;
        break;
    }
  }
  return 2 * macs;
}

std::vector<int64_t> list_arg(int argc, char** argv, const char* name, const std::string& fallback) {
  std::string v = fallback;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) v = argv[i + 1];
  std::vector<int64_t> out;
  for (size_t at = 0; at < v.size();) {
    const size_t comma = std::min(v.find(',', at), v.size());
    out.push_back(std::stoll(v.substr(at, comma - at)));
    at = comma + 1;
  }
  return out;
}

int64_t arg(int argc, char** argv, const char* name, int64_t fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return std::stoll(argv[i + 1]);
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path = std::string(NAGENT_BENCH_SOURCE_DIR) + "/tests/fixtures/nemotronh/configs/nemotron3_nano_30b_a3b.json";
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--config") == 0) config_path = argv[i + 1];
  const int64_t prompt = arg(argc, argv, "--prompt", 1024), steps = arg(argc, argv, "--decode", 128),
                prefill = arg(argc, argv, "--prefill", 8192), long_ctx = arg(argc, argv, "--long", 131072);
  const std::vector<int64_t> batches = list_arg(argc, argv, "--batch", "1,8,32,64");
  const int64_t profile_b = arg(argc, argv, "--profile", 0);
  const bool profile_prefill = arg(argc, argv, "--profile-prefill", 0) != 0;
  const int64_t max_b = std::max(*std::max_element(batches.begin(), batches.end()), profile_b);
  const int64_t batch_steps = std::clamp<int64_t>(steps, 1, 32);
  if (cu::device_count() == 0) {
    std::fprintf(stderr, "bench_engine_cuda: no CUDA GPU\n");
    return 77;
  }
  try {
    const ModelConfig c = load_model_config(config_path);
    cudaDeviceProp prop{};
    NAGENT_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    cu::CudaOptions o;
    o.max_batch = prefill;  // every prompt goes in chunks of at most `prefill` tokens
    // The batch-1 runs, and the largest batch's sessions (context, steps, page rounding).
    o.kv_capacity = 2 * (prefill + prompt + steps + 256) + max_b * (prompt + batch_steps + 2 * o.page_size + 16) +
                    (long_ctx > 0 ? long_ctx + steps + 256 : 0);
    cu::CudaNemotronH m(c, 42, o);
    const cudaStream_t st = m.stream();
    const double bw = copy_bandwidth(st);
    const double rate = gemm_rate(st);
    std::printf("GPU %s, %d SMs; copy bandwidth %.0f GB/s (read+write), cuBLASLt bf16 8192^3 %.0f TFLOP/s\n",
                prop.name, prop.multiProcessorCount, bw / 1e9, rate / 1e12);
    std::printf("model %s (%zu layers %s), GPU memory by component:\n%s", config_path.c_str(), c.layers.size(),
                c.pattern().c_str(), m.memory().report().c_str());

    const int64_t V = c.vocab_size;
    cu::DeviceBuffer tokens(sizeof(int32_t) * std::max(prefill, prompt), nullptr, "");
    cu::DeviceBuffer logits(sizeof(float) * V, nullptr, "");
    std::vector<int32_t> host_tokens(std::max(prefill, prompt));
    for (size_t i = 0; i < host_tokens.size(); ++i) host_tokens[i] = static_cast<int32_t>((i * 7919 + 13) % V);
    NAGENT_CUDA_CHECK(cudaMemcpy(tokens.get(), host_tokens.data(), host_tokens.size() * 4, cudaMemcpyHostToDevice));
    Timer t(st);
    // Feeds the first ctx tokens of the prompt to a state in chunks of at most `prefill`.
    auto prefill_state = [&](cu::CudaState& s, int64_t ctx, float* out_logits) {
      for (int64_t done = 0; done < ctx;) {
        const int64_t n = std::min<int64_t>(ctx - done, prefill);
        m.forward_device(s, tokens.as<int32_t>(), n, out_logits, false);
        done += n;
      }
    };

    // B sessions at context `prompt` (one prefilled state copied on the device, each copy fed
    // its own token, so the rows' routing and attention differ); step() decodes one token of
    // each and feeds the greedy choices (picked on the GPU) to the next step.
    struct Batch {
      int64_t B;
      std::vector<ModelState> sessions;
      std::vector<cu::CudaState*> seqs;
      cu::DeviceBuffer tok, logits;
    };
    auto make_batch = [&](int64_t B) {
      ModelState base = m.new_state();
      prefill_state(*static_cast<cu::CudaState*>(base.device.get()), prompt, nullptr);
      Batch b{B, std::vector<ModelState>(static_cast<size_t>(B), base), {},
              cu::DeviceBuffer(sizeof(int32_t) * B, nullptr, ""), cu::DeviceBuffer(sizeof(float) * B * V, nullptr, "")};
      for (ModelState& s : b.sessions) b.seqs.push_back(static_cast<cu::CudaState*>(s.device.get()));
      std::vector<int32_t> first(static_cast<size_t>(B));
      for (int64_t i = 0; i < B; ++i) first[i] = static_cast<int32_t>((i * 7919 + 101) % V);
      NAGENT_CUDA_CHECK(cudaMemcpy(b.tok.get(), first.data(), B * sizeof(int32_t), cudaMemcpyHostToDevice));
      return b;
    };
    auto batch_step = [&](Batch& b) {
      m.decode_batch_device(b.seqs.data(), b.tok.as<int32_t>(), b.B, b.logits.as<float>());
      cu::argmax_rows(b.logits.as<float>(), b.B, V, b.tok.as<int32_t>(), st);
    };

    if (profile_prefill) {  // one forward of --prefill tokens on a fresh state
      ModelState s = m.new_state();
      auto* cs = static_cast<cu::CudaState*>(s.device.get());
      NAGENT_CUDA_CHECK(cudaStreamSynchronize(st));
      NAGENT_CUDA_CHECK(cudaProfilerStart());
      m.forward_device(*cs, tokens.as<int32_t>(), prefill, logits.as<float>(), false);
      NAGENT_CUDA_CHECK(cudaStreamSynchronize(st));
      NAGENT_CUDA_CHECK(cudaProfilerStop());
      std::printf("profiled one prefill of %lld tokens\n", static_cast<long long>(prefill));
      return 0;
    }
    if (profile_b > 0) {  // B = 1: the one-session path (forward_device), as the decode table
      m.set_graphs(false);
      m.set_fast_gemv(true);
      Batch b = make_batch(profile_b);
      auto step = [&] {
        if (profile_b > 1) return batch_step(b);
        m.forward_device(*b.seqs[0], b.tok.as<int32_t>(), 1, b.logits.as<float>(), false);
        cu::argmax_rows(b.logits.as<float>(), 1, V, b.tok.as<int32_t>(), st);
      };
      for (int i = 0; i < 3; ++i) step();
      NAGENT_CUDA_CHECK(cudaStreamSynchronize(st));
      NAGENT_CUDA_CHECK(cudaProfilerStart());
      step();
      NAGENT_CUDA_CHECK(cudaStreamSynchronize(st));
      NAGENT_CUDA_CHECK(cudaProfilerStop());
      std::printf("profiled one eager decode step of %lld sessions at context %lld\n",
                  static_cast<long long>(profile_b), static_cast<long long>(prompt));
      return 0;
    }

    // Prefill: one warm-up pass, then the timed one on a fresh state.
    double prefill_ms = 0;
    for (int rep = 0; rep < 2; ++rep) {
      ModelState s = m.new_state();
      auto* cs = static_cast<cu::CudaState*>(s.device.get());
      t.start();
      m.forward_device(*cs, tokens.as<int32_t>(), prefill, logits.as<float>(), false);
      prefill_ms = t.stop_ms();
    }
    const double prefill_flops = prefill * token_flops(c, prefill / 2.0);

    // Decode at batch 1 after a prompt: greedy tokens chosen on the GPU feed the next step.
    auto decode_at = [&](int64_t ctx, bool graphs, bool fast, bool pdl = false) {
      m.set_graphs(graphs);
      m.set_fast_gemv(fast);
      m.set_pdl(pdl);
      ModelState s = m.new_state();
      auto* cs = static_cast<cu::CudaState*>(s.device.get());
      prefill_state(*cs, ctx, logits.as<float>());
      int32_t* tok = tokens.as<int32_t>();
      cu::argmax_rows(logits.as<float>(), 1, V, tok, st);
      for (int i = 0; i < 8; ++i) {  // warm-up
        m.forward_device(*cs, tok, 1, logits.as<float>(), false);
        cu::argmax_rows(logits.as<float>(), 1, V, tok, st);
      }
      t.start();
      for (int64_t i = 0; i < steps; ++i) {
        m.forward_device(*cs, tok, 1, logits.as<float>(), false);
        cu::argmax_rows(logits.as<float>(), 1, V, tok, st);
      }
      return t.stop_ms() / steps;
    };
    struct Variant {
      const char* name;
      bool graphs, fast, pdl;
      double ms;
    };
    std::vector<Variant> variants{{"graph on,  fast GEMV", true, true, false, 0},
                                  {"graph off, fast GEMV", false, true, false, 0},
                                  {"graph on,  older GEMV", true, false, false, 0},
                                  {"graph off, older GEMV", false, false, false, 0},
                                  {"graph on,  fast GEMV, PDL", true, true, true, 0},
                                  {"graph off, fast GEMV, PDL", false, true, true, 0},
                                  {"graph on,  fast GEMV (again)", true, true, false, 0}};
    const int64_t captures0 = m.graph_captures(), replays0 = m.graph_replays();
    for (Variant& v : variants) v.ms = decode_at(prompt, v.graphs, v.fast, v.pdl);
    const int64_t captures = m.graph_captures() - captures0, replays = m.graph_replays() - replays0;
    const double step_short = std::min(variants[0].ms, variants.back().ms);
    const double step_long = decode_at(prefill, true, true);
    const double step_very_long = long_ctx > 0 ? decode_at(long_ctx, true, true) : 0.0;
    const double bytes_short = decode_bytes(c, prompt + 8 + steps / 2);
    const double roof_short = bytes_short / bw * 1e3;

    // Batched decode (make_batch), timed; then a few steps with the expert census on count the
    // distinct experts each MoE layer selected.
    struct BatchRow {
      int64_t B;
      double ms, experts;
    };
    std::vector<BatchRow> batch_rows;
    for (const int64_t B : batches) {
      m.set_graphs(true);
      m.set_fast_gemv(true);
      m.set_pdl(false);
      Batch b = make_batch(B);
      auto step = [&] { batch_step(b); };
      for (int i = 0; i < 4; ++i) step();  // warm-up: eager, capture, replays
      t.start();
      for (int64_t i = 0; i < batch_steps; ++i) step();
      const double ms = t.stop_ms() / batch_steps;
      m.set_expert_census(true);
      const auto before = m.expert_census();
      for (int i = 0; i < 2; ++i) step();
      const auto after = m.expert_census();
      m.set_expert_census(false);
      const int64_t runs = after.layer_runs - before.layer_runs;
      batch_rows.push_back({B, ms, runs ? double(after.experts - before.experts) / runs : 0.0});
    }

    // One-token products of the model's shapes (GB/s of weights).
    const int64_t H = c.hidden_size;
    std::vector<std::pair<const char*, std::pair<int64_t, int64_t>>> shapes{
        {"mamba in_proj", {c.in_proj_out(), H}},
        {"mamba out_proj", {H, c.d_inner()}},
        {"attention q/o", {c.num_attention_heads * c.head_dim, H}},
        {"attention k/v", {c.num_key_value_heads * c.head_dim, H}},
        {"shared expert up", {c.shared_width(), H}},
        {"shared expert down", {H, c.shared_width()}},
        {"lm head", {c.vocab_size, H}}};
    std::printf("\n%-22s %16s %11s %11s %11s   GB/s of weights, one token\n", "product", "N x K", "gemv1",
                "older gemv", "cuBLASLt");
    std::printf("%-22s (eager launches back to back over rotating copies: small shapes show the launch rate)\n", "");
    for (const auto& [name, nk] : shapes) {
      if (nk.first <= 0 || nk.second <= 0) continue;
      const GemvRow r = gemv_paths(st, nk.first, nk.second);
      std::printf("%-22s %7lld x %-7lld %11.0f %11.0f %11.0f\n", name, static_cast<long long>(r.N),
                  static_cast<long long>(r.K), r.fast, r.old, r.lt);
    }

    std::printf("\n%-44s %12s %12s %10s\n", "measurement", "value", "roofline", "of roof");
    std::printf("%-44s %9.1f t/s %9.1f t/s %9.1f%%\n",
                ("decode batch 1, context " + std::to_string(prompt)).c_str(), 1e3 / step_short, 1e3 / roof_short,
                100 * roof_short / step_short);
    std::printf("%-44s %9.3f ms %9.3f ms\n", "  step time", step_short, roof_short);
    std::printf("%-44s %9.2f GB  (weights + states + KV per token)\n", "  bytes per token", bytes_short / 1e9);
    std::printf("%-44s %9.3f ms  (%.2fx the step at %lld)\n",
                ("decode step, context " + std::to_string(prefill)).c_str(), step_long, step_long / step_short,
                static_cast<long long>(prompt));
    if (long_ctx > 0)
      std::printf("%-44s %9.3f ms  (%.2fx the step at %lld)\n",
                  ("decode step, context " + std::to_string(long_ctx)).c_str(), step_very_long,
                  step_very_long / step_short, static_cast<long long>(prompt));
    const int64_t ctx_b = prompt + 4 + batch_steps / 2;
    const double E = double(c.n_routed_experts), k = double(c.num_experts_per_tok);
    for (const BatchRow& r : batch_rows) {
      const StepBytes bytes = step_bytes(c, ctx_b, r.B, r.experts);
      const double roof = bytes.total() / bw * 1e3;
      std::printf("%-44s %9.1f t/s %9.1f t/s %9.1f%%\n",
                  ("decode_batch B=" + std::to_string(r.B) + ", context " + std::to_string(prompt)).c_str(),
                  r.B * 1e3 / r.ms, r.B * 1e3 / roof, 100 * roof / r.ms);
      std::printf("%-44s %9.3f ms %9.3f ms\n", "  step time", r.ms, roof);
      std::printf("%-44s %9.2f GB  (dense weights %.2f + experts %.2f + states/KV %.2f)\n", "  bytes per step",
                  bytes.total() / 1e9, bytes.dense / 1e9, bytes.experts / 1e9, bytes.per_seq / 1e9);
      if (E > 0)
        std::printf("%-44s %9.1f     (of %.0f, counted from the router; %.1f if uniform)\n",
                    "  distinct experts per MoE layer", r.experts, E, E * (1 - std::pow(1 - k / E, double(r.B))));
    }
    std::printf("%-44s %9.0f t/s %9.1f TF/s %9.1f%%\n", ("prefill " + std::to_string(prefill) + " tokens").c_str(),
                prefill / (prefill_ms * 1e-3), prefill_flops / (prefill_ms * 1e-3) / 1e12,
                100 * prefill_flops / (prefill_ms * 1e-3) / rate);
    std::printf("decode step at context %lld by variant (%lld graph captures, %lld replays):\n",
                static_cast<long long>(prompt), static_cast<long long>(captures), static_cast<long long>(replays));
    for (const Variant& v : variants)
      std::printf("  %-42s %9.3f ms %9.1f t/s %9.1f%% of roof\n", v.name, v.ms, 1e3 / v.ms, 100 * roof_short / v.ms);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_engine_cuda: %s\n", e.what());
    return 1;
  }
  return 0;
}
