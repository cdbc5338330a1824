#include "engine/model_config.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace nagent::engine {

namespace {

using json = nlohmann::json;

[[noreturn]] void fail(const std::string& what) { throw ConfigError("config.json: " + what); }

// Python's json module writes float('inf') as Infinity and nan as NaN, which strict JSON
// parsers reject. Outside string literals, rewrite them to marker strings read by number().
std::string replace_python_literals(const std::string& in) {
  std::string out;
  out.reserve(in.size());
  bool in_string = false;
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < in.size()) out += in[++i];
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
      out += c;
    } else if (in.compare(i, 9, "-Infinity") == 0) {
      out += "\"-inf\"";
      i += 8;
    } else if (in.compare(i, 8, "Infinity") == 0) {
      out += "\"inf\"";
      i += 7;
    } else if (in.compare(i, 3, "NaN") == 0) {
      out += "\"nan\"";
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

double number(const json& v, const std::string& key) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    const auto s = v.get<std::string>();
    if (s == "inf") return INFINITY;
    if (s == "-inf") return -INFINITY;
    if (s == "nan") return NAN;
  }
  fail("'" + key + "' must be a number, found " + v.dump());
}

int64_t integer(const json& v, const std::string& key) {
  if (!v.is_number_integer()) fail("'" + key + "' must be an integer, found " + v.dump());
  return v.get<int64_t>();
}

bool boolean(const json& v, const std::string& key) {
  if (!v.is_boolean()) fail("'" + key + "' must be true or false, found " + v.dump());
  return v.get<bool>();
}

std::string string(const json& v, const std::string& key) {
  if (!v.is_string()) fail("'" + key + "' must be a string, found " + v.dump());
  return v.get<std::string>();
}

// Reads the first present key among `names` (the current name first, then legacy aliases).
const json* find(const json& j, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    auto it = j.find(n);
    if (it != j.end() && !it->is_null()) return &*it;
  }
  return nullptr;
}

LayerType layer_from_char(char c, const std::string& where) {
  switch (c) {
    case 'M': return LayerType::kMamba;
    case '*': return LayerType::kAttention;
    case '-': return LayerType::kMlp;
    case 'E': return LayerType::kMoe;
  }
  fail(where + ": unknown layer character '" + std::string(1, c) + "' (expected M, *, - or E)");
}

LayerType layer_from_name(const std::string& s, const std::string& where) {
  // Current transformers names, then the names of older configs / the modeling file's keys.
  if (s == "linear_attention" || s == "mamba") return LayerType::kMamba;
  if (s == "full_attention" || s == "attention") return LayerType::kAttention;
  if (s == "mlp") return LayerType::kMlp;
  if (s == "moe") return LayerType::kMoe;
  fail(where + ": unknown layer type '" + s + "' (expected linear_attention, full_attention, mlp or moe)");
}

std::vector<LayerType> read_layers(const json& j, const char* pattern_key, const char* list_key) {
  std::vector<LayerType> out;
  if (const json* p = find(j, {pattern_key})) {
    for (char c : string(*p, pattern_key)) out.push_back(layer_from_char(c, pattern_key));
    return out;
  }
  if (const json* l = find(j, {list_key})) {
    if (!l->is_array()) fail(std::string("'") + list_key + "' must be a list of layer type names");
    for (const auto& e : *l) out.push_back(layer_from_name(string(e, list_key), list_key));
  }
  return out;
}

}  // namespace

std::string ModelConfig::pattern() const {
  std::string s;
  for (LayerType t : layers) s += static_cast<char>(t);
  return s;
}

ModelConfig parse_model_config(const std::string& text) {
  json j;
  try {
    j = json::parse(replace_python_literals(text));
  } catch (const json::exception& e) {
    fail(std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) fail("not a JSON object");
  ModelConfig c;
  if (const json* v = find(j, {"model_type"})) c.model_type = string(*v, "model_type");
  if (c.model_type != "nemotron_h")
    fail("model_type is '" + c.model_type + "'; this engine runs NemotronH (model_type nemotron_h) only");
  if (const json* v = find(j, {"torch_dtype", "dtype"})) c.torch_dtype = v->is_string() ? v->get<std::string>() : "";

  auto get_int = [&](int64_t& field, std::initializer_list<const char*> names) {
    if (const json* v = find(j, names)) field = integer(*v, *names.begin());
  };
  auto get_num = [&](double& field, std::initializer_list<const char*> names) {
    if (const json* v = find(j, names)) field = number(*v, *names.begin());
  };
  auto get_bool = [&](bool& field, std::initializer_list<const char*> names) {
    if (const json* v = find(j, names)) field = boolean(*v, *names.begin());
  };
  auto get_str = [&](std::string& field, std::initializer_list<const char*> names) {
    if (const json* v = find(j, names)) field = string(*v, *names.begin());
  };

  get_int(c.vocab_size, {"vocab_size"});
  get_int(c.hidden_size, {"hidden_size"});
  get_bool(c.tie_word_embeddings, {"tie_word_embeddings"});
  get_int(c.num_attention_heads, {"num_attention_heads"});
  c.num_key_value_heads = c.num_attention_heads;  // transformers: None -> num_attention_heads
  get_int(c.num_key_value_heads, {"num_key_value_heads"});
  if (find(j, {"head_dim", "attention_head_dim"})) get_int(c.head_dim, {"head_dim", "attention_head_dim"});
  else c.head_dim = c.hidden_size / std::max<int64_t>(1, c.num_attention_heads);
  get_bool(c.attention_bias, {"attention_bias"});
  get_int(c.max_position_embeddings, {"max_position_embeddings"});
  get_int(c.sliding_window, {"sliding_window"});
  if (const json* v = find(j, {"intermediate_size"})) {
    // vLLM accepts a per-MLP-layer list; every released config has one number.
    if (v->is_array()) fail("a per-layer intermediate_size list is not supported");
    c.intermediate_size = integer(*v, "intermediate_size");
  }
  get_str(c.mlp_hidden_act, {"mlp_hidden_act"});
  get_bool(c.mlp_bias, {"mlp_bias"});
  get_int(c.ssm_state_size, {"ssm_state_size"});
  get_int(c.mamba_num_heads, {"mamba_num_heads"});
  get_int(c.mamba_head_dim, {"mamba_head_dim"});
  get_str(c.mamba_hidden_act, {"mamba_hidden_act"});
  get_int(c.n_groups, {"n_groups", "mamba_n_groups"});
  get_int(c.conv_kernel, {"conv_kernel", "mamba_d_conv"});
  get_int(c.expand, {"expand", "mamba_expand"});
  get_int(c.chunk_size, {"chunk_size", "mamba_chunk_size"});
  get_num(c.time_step_min, {"time_step_min", "mamba_dt_min"});
  get_num(c.time_step_max, {"time_step_max", "mamba_dt_max"});
  get_num(c.time_step_floor, {"time_step_floor", "mamba_dt_init_floor"});
  if (const json* v = find(j, {"time_step_limit", "mamba_dt_limit"})) {
    if (!v->is_array() || v->size() != 2) fail("'time_step_limit' must be [min, max]");
    c.time_step_limit[0] = number((*v)[0], "time_step_limit");
    c.time_step_limit[1] = number((*v)[1], "time_step_limit");
  }
  get_bool(c.use_conv_bias, {"use_conv_bias", "mamba_conv_bias"});
  get_bool(c.use_bias, {"use_bias"});
  get_bool(c.mamba_proj_bias, {"mamba_proj_bias"});
  get_str(c.mamba_ssm_cache_dtype, {"mamba_ssm_cache_dtype"});
  get_bool(c.use_mamba_kernels, {"use_mamba_kernels"});
  get_int(c.n_routed_experts, {"n_routed_experts", "num_local_experts"});
  if (const json* v = find(j, {"n_shared_experts"})) c.n_shared_experts = integer(*v, "n_shared_experts");
  else if (j.contains("n_shared_experts")) c.n_shared_experts = 0;  // explicit null: no shared expert
  get_int(c.moe_intermediate_size, {"moe_intermediate_size"});
  get_int(c.moe_shared_expert_intermediate_size, {"moe_shared_expert_intermediate_size"});
  get_int(c.moe_latent_size, {"moe_latent_size"});
  get_bool(c.moe_shared_expert_overlap, {"moe_shared_expert_overlap"});
  get_int(c.num_experts_per_tok, {"num_experts_per_tok"});
  get_num(c.routed_scaling_factor, {"routed_scaling_factor"});
  get_int(c.n_group, {"n_group"});
  get_int(c.topk_group, {"topk_group"});
  get_bool(c.norm_topk_prob, {"norm_topk_prob"});
  get_int(c.num_nextn_predict_layers, {"num_nextn_predict_layers"});
  get_num(c.layer_norm_epsilon, {"layer_norm_epsilon", "norm_eps"});
  get_bool(c.residual_in_fp32, {"residual_in_fp32"});
  get_int(c.num_logits_to_keep, {"num_logits_to_keep"});
  get_int(c.bos_token_id, {"bos_token_id"});
  get_int(c.pad_token_id, {"pad_token_id"});
  if (const json* v = find(j, {"eos_token_id"})) {
    c.eos_token_ids.clear();
    if (v->is_array()) {
      for (const auto& e : *v) c.eos_token_ids.push_back(integer(e, "eos_token_id"));
    } else {
      c.eos_token_ids.push_back(integer(*v, "eos_token_id"));
    }
  }
  if (const json* q = find(j, {"quantization_config"})) {
    if (q->is_object() && q->contains("quant_method") && (*q)["quant_method"].is_string())
      c.quant_method = (*q)["quant_method"].get<std::string>();
    else
      c.quant_method = "unknown";
  }

  c.layers = read_layers(j, "hybrid_override_pattern", "layers_block_type");
  if (c.layers.empty()) {
    // transformers' default when neither form is given.
    c.layers = {LayerType::kMamba, LayerType::kMoe, LayerType::kAttention, LayerType::kMlp};
  }
  auto mtp = read_layers(j, "mtp_hybrid_override_pattern", "mtp_layers_block_type");
  if (!mtp.empty()) c.mtp_layers = mtp;
  if (const json* v = find(j, {"num_hidden_layers"})) {
    // transformers derives the count from the pattern and only warns on a mismatch; a mismatch
    // means the file was edited inconsistently, which we report rather than guess about.
    if (integer(*v, "num_hidden_layers") != c.num_layers())
      fail("num_hidden_layers is " + v->dump() + " but the layer pattern '" + c.pattern() + "' has " +
           std::to_string(c.num_layers()) + " layers");
  }
  validate_model_config(c);
  return c;
}

ModelConfig load_model_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return parse_model_config(ss.str());
  } catch (const ConfigError& e) {
    throw ConfigError(path + ": " + std::string(e.what()).substr(std::string("config.json: ").size()));
  }
}

void validate_model_config(const ModelConfig& c) {
  auto positive = [](int64_t v, const char* name) {
    if (v <= 0) fail(std::string(name) + " must be positive, found " + std::to_string(v));
  };
  positive(c.vocab_size, "vocab_size");
  positive(c.hidden_size, "hidden_size");
  bool has[128] = {};
  for (LayerType t : c.layers) has[static_cast<unsigned char>(t)] = true;
  if (c.num_nextn_predict_layers > 0)
    for (LayerType t : c.mtp_layers) has[static_cast<unsigned char>(t)] = true;
  if (has['*']) {
    positive(c.num_attention_heads, "num_attention_heads");
    positive(c.num_key_value_heads, "num_key_value_heads");
    positive(c.head_dim, "head_dim");
    if (c.sliding_window > 0)
      fail("sliding_window " + std::to_string(c.sliding_window) + " is not supported (no NemotronH checkpoint uses one)");
    if (c.num_attention_heads % c.num_key_value_heads)
      fail("num_attention_heads (" + std::to_string(c.num_attention_heads) +
           ") is not a multiple of num_key_value_heads (" + std::to_string(c.num_key_value_heads) + ")");
  }
  if (has['-']) positive(c.intermediate_size, "intermediate_size");
  if ((has['-'] || has['E']) && c.mlp_hidden_act != "relu2")
    fail("mlp_hidden_act '" + c.mlp_hidden_act + "' is not supported (NemotronH uses relu2)");
  if (has['M']) {
    positive(c.ssm_state_size, "ssm_state_size");
    positive(c.mamba_num_heads, "mamba_num_heads");
    positive(c.mamba_head_dim, "mamba_head_dim");
    positive(c.n_groups, "n_groups");
    positive(c.conv_kernel, "conv_kernel");
    positive(c.chunk_size, "chunk_size");
    if (c.mamba_num_heads % c.n_groups)
      fail("mamba_num_heads (" + std::to_string(c.mamba_num_heads) + ") is not a multiple of n_groups (" +
           std::to_string(c.n_groups) + ")");
    if (c.mamba_hidden_act != "silu" && c.mamba_hidden_act != "swish")
      fail("mamba_hidden_act '" + c.mamba_hidden_act + "' is not supported (NemotronH uses silu)");
    if (!(c.time_step_limit[0] <= c.time_step_limit[1]))
      fail("time_step_limit lower bound is above the upper bound");
  }
  if (has['E']) {
    positive(c.n_routed_experts, "n_routed_experts");
    positive(c.num_experts_per_tok, "num_experts_per_tok");
    positive(c.moe_intermediate_size, "moe_intermediate_size");
    positive(c.n_group, "n_group");
    if (c.n_routed_experts % c.n_group)
      fail("n_routed_experts (" + std::to_string(c.n_routed_experts) + ") is not a multiple of n_group (" +
           std::to_string(c.n_group) + ")");
    if (c.topk_group < 1 || c.topk_group > c.n_group)
      fail("topk_group (" + std::to_string(c.topk_group) + ") must be between 1 and n_group (" +
           std::to_string(c.n_group) + ")");
    if (c.n_group > 1 && c.n_routed_experts / c.n_group < 2)
      fail("group-limited routing scores each group by its top-2 experts; groups of " +
           std::to_string(c.n_routed_experts / c.n_group) + " expert are too small");
    if (c.num_experts_per_tok > c.topk_group * (c.n_routed_experts / c.n_group))
      fail("num_experts_per_tok (" + std::to_string(c.num_experts_per_tok) +
           ") exceeds the experts of the kept groups (" +
           std::to_string(c.topk_group * (c.n_routed_experts / c.n_group)) + ")");
    if (c.n_shared_experts > 0) positive(c.moe_shared_expert_intermediate_size, "moe_shared_expert_intermediate_size");
    if (c.moe_latent_size < 0) fail("moe_latent_size must be positive or null");
  }
}

}  // namespace nagent::engine
