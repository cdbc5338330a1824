// NemotronH (model_type "nemotron_h") configuration: every field of Hugging Face's
// NemotronHConfig, read from config.json in either layer-pattern form (hybrid_override_pattern
// string or layers_block_type list), with the legacy aliases, checked for consistency.
#pragma once

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace nagent::engine {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class LayerType : char { kMamba = 'M', kAttention = '*', kMlp = '-', kMoe = 'E' };

// How dt is limited after softplus. NVIDIA's kernels and vLLM clamp to time_step_limit (default
// (0, inf): no clamp). transformers 5.17 (torch path) clamps at time_step_min when it prefills
// and not in its cached one-token decode step (measured: tests/engine_parity_test.cpp, fixture
// dt_clamp_fp32); kTransformers reproduces that, to compare against transformers.
enum class DtClamp { kTimeStepLimit, kTransformers };

struct ModelConfig {
  std::string model_type = "nemotron_h";
  std::string torch_dtype;  // informational ("bfloat16", ...)
  int64_t vocab_size = 131072;
  int64_t hidden_size = 4096;
  std::vector<LayerType> layers;  // one per layer
  bool tie_word_embeddings = false;
  // attention
  int64_t num_attention_heads = 32;
  int64_t num_key_value_heads = 8;
  int64_t head_dim = 128;
  bool attention_bias = false;
  int64_t max_position_embeddings = 4096;
  int64_t sliding_window = 0;  // 0 = none
  // dense MLP
  int64_t intermediate_size = 21504;
  std::string mlp_hidden_act = "relu2";
  bool mlp_bias = false;
  // Mamba-2
  int64_t ssm_state_size = 128;
  int64_t mamba_num_heads = 128;
  int64_t mamba_head_dim = 64;
  std::string mamba_hidden_act = "silu";
  int64_t n_groups = 8;
  int64_t conv_kernel = 4;
  int64_t expand = 2;  // unused for shapes (d_inner = mamba_num_heads * mamba_head_dim)
  int64_t chunk_size = 128;
  double time_step_min = 0.001;
  double time_step_max = 0.1;
  double time_step_floor = 1e-4;
  double time_step_limit[2] = {0.0, std::numeric_limits<double>::infinity()};
  bool use_conv_bias = true;
  bool use_bias = false;  // Mamba in_proj/out_proj bias
  bool mamba_proj_bias = false;
  std::string mamba_ssm_cache_dtype = "float32";
  bool use_mamba_kernels = true;
  // MoE
  int64_t n_routed_experts = 8;
  int64_t n_shared_experts = 1;
  int64_t moe_intermediate_size = 7688;
  int64_t moe_shared_expert_intermediate_size = 7688;
  int64_t moe_latent_size = 0;  // 0 = no latent projection
  bool moe_shared_expert_overlap = true;
  int64_t num_experts_per_tok = 2;
  double routed_scaling_factor = 1.0;
  int64_t n_group = 1;
  int64_t topk_group = 1;
  bool norm_topk_prob = true;
  // MTP
  int64_t num_nextn_predict_layers = 0;
  std::vector<LayerType> mtp_layers = {LayerType::kAttention, LayerType::kMoe};
  // misc
  double layer_norm_epsilon = 1e-5;
  bool residual_in_fp32 = false;
  int64_t num_logits_to_keep = 1;
  int64_t bos_token_id = 1;
  std::vector<int64_t> eos_token_ids = {2};
  int64_t pad_token_id = 0;
  // Quantisation as declared by config.json (quantization_config.quant_method), "" if none.
  std::string quant_method;

  // Derived sizes (reference doc 1.3).
  int64_t num_layers() const { return static_cast<int64_t>(layers.size()); }
  int64_t d_inner() const { return mamba_num_heads * mamba_head_dim; }
  int64_t gn() const { return n_groups * ssm_state_size; }
  int64_t conv_dim() const { return d_inner() + 2 * gn(); }
  int64_t in_proj_out() const { return 2 * d_inner() + 2 * gn() + mamba_num_heads; }
  int64_t latent() const { return moe_latent_size > 0 ? moe_latent_size : hidden_size; }
  int64_t shared_width() const { return moe_shared_expert_intermediate_size * n_shared_experts; }
  std::string pattern() const;  // "M*-E..."
};

// Parses config.json text. Accepts JSON with Python's Infinity/NaN literals (transformers
// writes time_step_limit as [0.0, Infinity]).
ModelConfig parse_model_config(const std::string& json_text);
ModelConfig load_model_config(const std::string& path);

// Checks the sizes fit together (heads divide, groups divide, k fits the kept groups...).
void validate_model_config(const ModelConfig& c);

}  // namespace nagent::engine
