#include "engine/random_checkpoint.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>

#include "engine/cpu_kernels.h"
#include "engine/safetensors.h"

namespace nagent::engine {

nlohmann::json small_benchmark_config() {
  return {{"model_type", "nemotron_h"}, {"vocab_size", 32000}, {"hidden_size", 768},
          {"hybrid_override_pattern", "M-M-M*-M-M-M*-"}, {"num_attention_heads", 12},
          {"num_key_value_heads", 4}, {"head_dim", 64}, {"intermediate_size", 3072},
          {"ssm_state_size", 64}, {"mamba_num_heads", 24}, {"mamba_head_dim", 64}, {"n_groups", 4},
          {"conv_kernel", 4}, {"chunk_size", 128}, {"torch_dtype", "bfloat16"}};
}

std::optional<nlohmann::json> benchmark_shape_config(const std::string& name) {
  if (name == "small") return small_benchmark_config();
  if (name == "nemotron-3-nano-30b-a3b") return nemotron3_nano_30b_a3b_config();
  return std::nullopt;
}

nlohmann::json nemotron3_nano_30b_a3b_config() {
  return {{"model_type", "nemotron_h"}, {"vocab_size", 131072}, {"hidden_size", 2688},
          {"hybrid_override_pattern", "MEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEMEM*EMEMEMEME"},
          {"num_attention_heads", 32}, {"num_key_value_heads", 2}, {"head_dim", 128},
          {"attention_bias", false}, {"max_position_embeddings", 262144}, {"intermediate_size", 1856},
          {"mlp_hidden_act", "relu2"}, {"mlp_bias", false}, {"mamba_num_heads", 64}, {"mamba_head_dim", 64},
          {"ssm_state_size", 128}, {"n_groups", 8}, {"conv_kernel", 4}, {"chunk_size", 128},
          {"use_conv_bias", true}, {"time_step_min", 0.001}, {"time_step_max", 0.1},
          {"time_step_floor", 0.0001}, {"n_routed_experts", 128}, {"num_experts_per_tok", 6},
          {"moe_intermediate_size", 1856}, {"moe_shared_expert_intermediate_size", 3712},
          {"n_shared_experts", 1}, {"n_group", 1}, {"topk_group", 1}, {"norm_topk_prob", true},
          {"routed_scaling_factor", 2.5}, {"layer_norm_epsilon", 1e-05}, {"tie_word_embeddings", false},
          {"eos_token_id", 2}, {"torch_dtype", "bfloat16"}};
}

std::vector<std::pair<std::string, std::vector<int64_t>>> checkpoint_tensor_shapes(const ModelConfig& c) {
  const int64_t H = c.hidden_size, V = c.vocab_size, Hm = c.mamba_num_heads, K = c.conv_kernel;
  const int64_t q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  std::vector<std::pair<std::string, std::vector<int64_t>>> specs = {{"backbone.embeddings.weight", {V, H}},
                                                                     {"backbone.norm_f.weight", {H}}};
  if (!c.tie_word_embeddings) specs.push_back({"lm_head.weight", {V, H}});
  for (size_t l = 0; l < c.layers.size(); ++l) {
    const std::string p = "backbone.layers." + std::to_string(l) + ".";
    specs.push_back({p + "norm.weight", {H}});
    const std::string m = p + "mixer.";
    auto mlp = [&](const std::string& at, int64_t d_in, int64_t width) {
      specs.push_back({at + "up_proj.weight", {width, d_in}});
      specs.push_back({at + "down_proj.weight", {d_in, width}});
    };
    switch (c.layers[l]) {
      case LayerType::kMamba:
        specs.push_back({m + "in_proj.weight", {c.in_proj_out(), H}});
        specs.push_back({m + "conv1d.weight", {c.conv_dim(), 1, K}});
        if (c.use_conv_bias) specs.push_back({m + "conv1d.bias", {c.conv_dim()}});
        for (const char* v : {"A_log", "dt_bias", "D"}) specs.push_back({m + v, {Hm}});
        specs.push_back({m + "norm.weight", {c.d_inner()}});
        specs.push_back({m + "out_proj.weight", {H, c.d_inner()}});
        break;
      case LayerType::kAttention:
        specs.push_back({m + "q_proj.weight", {q, H}});
        specs.push_back({m + "k_proj.weight", {kv, H}});
        specs.push_back({m + "v_proj.weight", {kv, H}});
        specs.push_back({m + "o_proj.weight", {H, q}});
        break;
      case LayerType::kMlp: mlp(m, H, c.intermediate_size); break;
      case LayerType::kMoe: {
        const int64_t E = c.n_routed_experts, L = c.latent();
        specs.push_back({m + "gate.weight", {E, H}});
        specs.push_back({m + "gate.e_score_correction_bias", {E}});
        for (int64_t j = 0; j < E; ++j) mlp(m + "experts." + std::to_string(j) + ".", L, c.moe_intermediate_size);
        if (c.n_shared_experts > 0) mlp(m + "shared_experts.", H, c.shared_width());
        if (c.moe_latent_size > 0) {
          specs.push_back({m + "fc1_latent_proj.weight", {L, H}});
          specs.push_back({m + "fc2_latent_proj.weight", {H, L}});
        }
        break;
      }
    }
  }
  return specs;
}

int64_t checkpoint_parameters(const ModelConfig& c) {
  int64_t n = 0;
  for (const auto& [name, shape] : checkpoint_tensor_shapes(c)) {
    int64_t e = 1;
    for (int64_t d : shape) e *= d;
    n += e;
  }
  return n;
}

void write_random_checkpoint(const std::string& dir, nlohmann::json config, uint32_t seed) {
  namespace fs = std::filesystem;
  config["torch_dtype"] = "bfloat16";
  fs::create_directories(dir);
  std::ofstream(fs::path(dir) / "config.json") << config.dump(2);
  const ModelConfig c = parse_model_config(config.dump());
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<std::vector<uint16_t>> data;
  std::vector<TensorToWrite> tensors;
  const auto specs = checkpoint_tensor_shapes(c);
  data.reserve(specs.size());
  for (const auto& [name, shape] : specs) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    const float scale = shape.size() == 2 ? 1.0f / std::sqrt(static_cast<float>(shape[1])) : 0.1f;
    std::vector<uint16_t> v(static_cast<size_t>(n));
    for (auto& x : v) x = f32_to_bf16(normal(rng) * scale + (shape.size() == 1 ? 1.0f : 0.0f));
    data.push_back(std::move(v));
    tensors.push_back({name, DType::BF16, shape, data.back().data()});
  }
  write_safetensors((fs::path(dir) / "model.safetensors").string(), tensors);
}

}  // namespace nagent::engine
