// NemotronH config.json parsing: the released configs (transcribed in
// tests/fixtures/nemotronh/configs/ from the reference doc's table 1.11), both layer-pattern
// forms, legacy aliases, Python's Infinity, and precise errors for inconsistent files.
#include <catch2/catch.hpp>

#include <cmath>

#include "engine/model_config.h"

using namespace nagent::engine;

namespace {
std::string configs(const std::string& name) {
  return std::string(NAGENT_SOURCE_DIR) + "/tests/fixtures/nemotronh/configs/" + name;
}
int count(const ModelConfig& c, LayerType t) { return static_cast<int>(std::count(c.layers.begin(), c.layers.end(), t)); }
}  // namespace

TEST_CASE("Nemotron 3 Nano 30B-A3B config") {
  const ModelConfig c = load_model_config(configs("nemotron3_nano_30b_a3b.json"));
  CHECK(c.num_layers() == 52);
  CHECK(count(c, LayerType::kMamba) == 23);
  CHECK(count(c, LayerType::kAttention) == 6);
  CHECK(count(c, LayerType::kMoe) == 23);
  CHECK(count(c, LayerType::kMlp) == 0);
  CHECK(c.d_inner() == 4096);
  CHECK(c.gn() == 1024);
  CHECK(c.conv_dim() == 6144);
  CHECK(c.in_proj_out() == 10304);
  CHECK(c.d_inner() / c.n_groups == 512);  // gated-norm group
  CHECK(c.n_routed_experts == 128);
  CHECK(c.num_experts_per_tok == 6);
  CHECK(c.moe_latent_size == 0);
  CHECK(c.latent() == 2688);
  CHECK(c.shared_width() == 3712);
  CHECK(c.routed_scaling_factor == 2.5);
  CHECK(std::isinf(c.time_step_limit[1]));
  CHECK(c.time_step_limit[0] == 0.0);
  CHECK(c.eos_token_ids == std::vector<int64_t>{2});
}

TEST_CASE("Nemotron 3 Super 120B-A12B config: latent MoE, MTP, eos list") {
  const ModelConfig c = load_model_config(configs("nemotron3_super_120b_a12b.json"));
  CHECK(c.num_layers() == 88);
  CHECK(count(c, LayerType::kMamba) == 40);
  CHECK(count(c, LayerType::kAttention) == 8);
  CHECK(count(c, LayerType::kMoe) == 40);
  CHECK(c.in_proj_out() == 18560);
  CHECK(c.conv_dim() == 10240);
  CHECK(c.latent() == 1024);
  CHECK(c.num_nextn_predict_layers == 1);
  CHECK(c.mtp_layers == std::vector<LayerType>{LayerType::kAttention, LayerType::kMoe});
  CHECK(c.eos_token_ids == std::vector<int64_t>{2, 11});
  CHECK_FALSE(c.moe_shared_expert_overlap);
}

TEST_CASE("Nemotron-H 8B config with legacy aliases") {
  const ModelConfig c = load_model_config(configs("nemotron_h_8b_base.json"));
  CHECK(count(c, LayerType::kMamba) == 24);
  CHECK(count(c, LayerType::kAttention) == 4);
  CHECK(count(c, LayerType::kMlp) == 24);
  CHECK(c.n_groups == 8);     // from mamba_n_groups
  CHECK(c.conv_kernel == 4);  // from mamba_d_conv
  CHECK(c.num_key_value_heads == 8);
}

TEST_CASE("layers_block_type lists, current and legacy names, equal the pattern string") {
  const ModelConfig a = parse_model_config(
      R"({"model_type":"nemotron_h","layers_block_type":["linear_attention","moe","full_attention","mlp"]})");
  const ModelConfig b = parse_model_config(R"({"model_type":"nemotron_h","layers_block_type":["mamba","moe","attention","mlp"]})");
  const ModelConfig p = parse_model_config(R"({"model_type":"nemotron_h","hybrid_override_pattern":"ME*-"})");
  CHECK(a.pattern() == "ME*-");
  CHECK(b.pattern() == "ME*-");
  CHECK(p.pattern() == "ME*-");
}

TEST_CASE("config errors name the field and the values") {
  auto error_of = [](const std::string& text) {
    try {
      parse_model_config(text);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  CHECK_THAT(error_of(R"({"model_type":"llama"})"), Catch::Contains("model_type is 'llama'"));
  CHECK_THAT(error_of(R"({"model_type":"nemotron_h","hybrid_override_pattern":"MX"})"),
             Catch::Contains("unknown layer character 'X'"));
  CHECK_THAT(error_of(R"({"model_type":"nemotron_h","layers_block_type":["mamba","rnn"]})"),
             Catch::Contains("unknown layer type 'rnn'"));
  CHECK_THAT(error_of(R"({"model_type":"nemotron_h","hybrid_override_pattern":"M*","num_hidden_layers":3})"),
             Catch::Contains("num_hidden_layers is 3 but the layer pattern 'M*' has 2 layers"));
  CHECK_THAT(error_of(R"({"model_type":"nemotron_h","hybrid_override_pattern":"*","num_attention_heads":6,"num_key_value_heads":4})"),
             Catch::Contains("num_attention_heads (6) is not a multiple of num_key_value_heads (4)"));
  CHECK_THAT(error_of(R"({"model_type":"nemotron_h","hybrid_override_pattern":"M","mamba_num_heads":6,"n_groups":4})"),
             Catch::Contains("mamba_num_heads (6) is not a multiple of n_groups (4)"));
  CHECK_THAT(error_of(R"({"model_type":"nemotron_h","hybrid_override_pattern":"E","n_routed_experts":8,"n_group":4,"topk_group":1,"num_experts_per_tok":3})"),
             Catch::Contains("num_experts_per_tok (3) exceeds the experts of the kept groups (2)"));
  CHECK_THAT(error_of(R"({"model_type":"nemotron_h","hidden_size":"big"})"), Catch::Contains("'hidden_size' must be an integer"));
  CHECK_THAT(error_of(R"({"model_type":"nemotron_h", )"), Catch::Contains("not valid JSON"));
}

TEST_CASE("Infinity inside strings is left alone") {
  const ModelConfig c = parse_model_config(R"({"model_type":"nemotron_h","torch_dtype":"Infinity","time_step_limit":[0.0,Infinity]})");
  CHECK(c.torch_dtype == "Infinity");
  CHECK(std::isinf(c.time_step_limit[1]));
}
