#include "engine/model_weights.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/cpu_kernels.h"

namespace nagent::engine {

namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool is_float(DType t) { return t == DType::F32 || t == DType::BF16 || t == DType::F16; }

// Names the quantisation of a ModelOpt checkpoint, or "" for a plain one.
std::string quantisation(const fs::path& dir, const ModelConfig& config, const Checkpoint* ck) {
  std::string algo;
  if (fs::exists(dir / "hf_quant_config.json")) {
    try {
      auto j = nlohmann::json::parse(read_file(dir / "hf_quant_config.json"));
      if (j.contains("quantization") && j["quantization"].contains("quant_algo"))
        algo = j["quantization"]["quant_algo"].get<std::string>();
    } catch (const std::exception&) {
    }
    if (algo.empty()) algo = "unknown algorithm";
    return "ModelOpt " + algo + " (hf_quant_config.json)";
  }
  if (!config.quant_method.empty()) return "'" + config.quant_method + "' (quantization_config in config.json)";
  if (ck) {
    for (const auto& [name, e] : ck->entries()) {
      if (e.info->dtype == DType::F8_E4M3 || e.info->dtype == DType::F8_E5M2)
        return std::string("FP8 (tensor ") + name + " is " + dtype_name(e.info->dtype) + ")";
      if (name.size() > 13 && name.compare(name.size() - 13, 13, ".weight_scale") == 0)
        return "ModelOpt FP8/NVFP4 (tensor " + name + ")";
    }
  }
  return "";
}

// Collects every problem with the checkpoint's tensors so one run reports them all.
class Validator {
 public:
  explicit Validator(const Checkpoint& ck) : ck_(ck) {}

  const Checkpoint::Entry* get(const std::string& name, const std::vector<int64_t>& shape) {
    used_.insert(name);
    const auto* e = ck_.find(name);
    if (!e) {
      problems_.push_back("missing tensor " + name + " (expected shape " + shape_string(shape) + ")");
      return nullptr;
    }
    if (e->info->shape != shape) {
      problems_.push_back("tensor " + name + ": expected shape " + shape_string(shape) + ", found " +
                          shape_string(e->info->shape));
      return nullptr;
    }
    if (!is_float(e->info->dtype)) {
      problems_.push_back("tensor " + name + ": dtype " + dtype_name(e->info->dtype) +
                          " is not supported (expected F32, BF16 or F16)");
      return nullptr;
    }
    return e;
  }

  Matrix matrix(const std::string& name, int64_t rows, int64_t cols) {
    Matrix m;
    m.rows = rows;
    m.cols = cols;
    if (const auto* e = get(name, {rows, cols})) {
      m.data = e->file->data(*e->info);
      m.dtype = e->info->dtype;
    }
    return m;
  }

  std::vector<float> vector(const std::string& name, const std::vector<int64_t>& shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> v(static_cast<size_t>(n));
    if (const auto* e = get(name, shape)) convert_to_f32(e->file->data(*e->info), e->info->dtype, 0, n, v.data());
    return v;
  }

  bool has(const std::string& name) const { return ck_.find(name) != nullptr; }

  void finish(const std::string& dir) {
    std::vector<std::string> unexpected;
    for (const auto& [name, e] : ck_.entries())
      if (!used_.count(name)) unexpected.push_back(name);
    if (!unexpected.empty()) {
      std::string list;
      for (size_t i = 0; i < unexpected.size() && i < 5; ++i) list += (i ? ", " : "") + unexpected[i];
      if (unexpected.size() > 5) list += ", ... (" + std::to_string(unexpected.size()) + " in all)";
      problems_.push_back("unexpected tensors not described by config.json: " + list);
    }
    if (problems_.empty()) return;
    std::string msg = dir + ": checkpoint does not match config.json:";
    for (size_t i = 0; i < problems_.size() && i < 20; ++i) msg += "\n  " + problems_[i];
    if (problems_.size() > 20) msg += "\n  ... (" + std::to_string(problems_.size()) + " problems in all)";
    throw WeightsError(msg);
  }

 private:
  const Checkpoint& ck_;
  std::set<std::string> used_;
  std::vector<std::string> problems_;
};

MlpWeights load_mlp(Validator& v, const std::string& p, int64_t d_in, int64_t width, bool bias) {
  MlpWeights m;
  m.up = v.matrix(p + "up_proj.weight", width, d_in);
  m.down = v.matrix(p + "down_proj.weight", d_in, width);
  if (bias) {
    m.up_bias = v.vector(p + "up_proj.bias", {width});
    m.down_bias = v.vector(p + "down_proj.bias", {d_in});
  }
  return m;
}

AttentionWeights load_attention(Validator& v, const std::string& m, const ModelConfig& c) {
  AttentionWeights a;
  const int64_t H = c.hidden_size, q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  a.q = v.matrix(m + "q_proj.weight", q, H);
  a.k = v.matrix(m + "k_proj.weight", kv, H);
  a.v = v.matrix(m + "v_proj.weight", kv, H);
  a.o = v.matrix(m + "o_proj.weight", H, q);
  if (c.attention_bias) {
    a.q_bias = v.vector(m + "q_proj.bias", {q});
    a.k_bias = v.vector(m + "k_proj.bias", {kv});
    a.v_bias = v.vector(m + "v_proj.bias", {kv});
    a.o_bias = v.vector(m + "o_proj.bias", {H});
  }
  return a;
}

MoeWeights load_moe(Validator& v, const std::string& m, const ModelConfig& c) {
  MoeWeights e;
  const int64_t H = c.hidden_size, E = c.n_routed_experts, L = c.latent();
  e.router = v.vector(m + "gate.weight", {E, H});
  e.correction_bias = v.vector(m + "gate.e_score_correction_bias", {E});
  for (int64_t j = 0; j < E; ++j)
    e.experts.push_back(load_mlp(v, m + "experts." + std::to_string(j) + ".", L, c.moe_intermediate_size, c.mlp_bias));
  e.has_shared = c.n_shared_experts > 0;
  if (e.has_shared) e.shared = load_mlp(v, m + "shared_experts.", H, c.shared_width(), c.mlp_bias);
  e.latent = c.moe_latent_size > 0;
  if (e.latent) {
    e.fc1_latent = v.matrix(m + "fc1_latent_proj.weight", L, H);
    e.fc2_latent = v.matrix(m + "fc2_latent_proj.weight", H, L);
    if (c.mlp_bias) {
      e.fc1_bias = v.vector(m + "fc1_latent_proj.bias", {L});
      e.fc2_bias = v.vector(m + "fc2_latent_proj.bias", {H});
    }
  }
  return e;
}

MambaWeights load_mamba(Validator& v, const std::string& m, const ModelConfig& c) {
  MambaWeights w;
  const int64_t H = c.hidden_size, Hm = c.mamba_num_heads, conv = c.conv_dim(), K = c.conv_kernel;
  w.in_proj = v.matrix(m + "in_proj.weight", c.in_proj_out(), H);
  w.out_proj = v.matrix(m + "out_proj.weight", H, c.d_inner());
  if (c.use_bias) {
    w.in_proj_bias = v.vector(m + "in_proj.bias", {c.in_proj_out()});
    w.out_proj_bias = v.vector(m + "out_proj.bias", {H});
  }
  const std::vector<float> taps = v.vector(m + "conv1d.weight", {conv, 1, K});
  w.conv_w.resize(taps.size());
  for (int64_t ch = 0; ch < conv; ++ch)
    for (int64_t k = 0; k < K; ++k) w.conv_w[k * conv + ch] = taps[ch * K + k];
  w.conv_b = c.use_conv_bias ? v.vector(m + "conv1d.bias", {conv}) : std::vector<float>(conv, 0.0f);
  w.A = v.vector(m + "A_log", {Hm});
  for (float& a : w.A) a = -std::exp(a);
  w.dt_bias = v.vector(m + "dt_bias", {Hm});
  w.D = v.vector(m + "D", {Hm});
  w.norm = v.vector(m + "norm.weight", {c.d_inner()});
  return w;
}

}  // namespace

std::shared_ptr<Checkpoint> Checkpoint::open(const std::string& dir) {
  auto ck = std::make_shared<Checkpoint>();
  const fs::path d(dir);
  std::vector<std::string> files;
  std::map<std::string, std::string> expected_file;  // tensor -> shard, from the index
  if (fs::exists(d / "model.safetensors.index.json")) {
    nlohmann::json idx;
    try {
      idx = nlohmann::json::parse(read_file(d / "model.safetensors.index.json"));
    } catch (const std::exception& e) {
      throw WeightsError(dir + "/model.safetensors.index.json: not valid JSON: " + e.what());
    }
    if (!idx.contains("weight_map") || !idx["weight_map"].is_object())
      throw WeightsError(dir + "/model.safetensors.index.json: no weight_map object");
    std::set<std::string> unique;
    for (auto it = idx["weight_map"].begin(); it != idx["weight_map"].end(); ++it) {
      if (!it.value().is_string())
        throw WeightsError(dir + "/model.safetensors.index.json: weight_map entry '" + it.key() + "' is not a file name");
      const std::string f = it.value().get<std::string>();
      if (f.find('/') != std::string::npos || f == ".." || f.empty())
        throw WeightsError(dir + "/model.safetensors.index.json: shard name '" + f + "' is not a plain file name");
      expected_file[it.key()] = f;
      if (unique.insert(f).second) files.push_back(f);
    }
  } else if (fs::exists(d / "model.safetensors")) {
    files.push_back("model.safetensors");
  } else {
    throw WeightsError(dir + ": no model.safetensors or model.safetensors.index.json");
  }
  for (const auto& f : files) {
    ck->files_.push_back(SafetensorsFile::open((d / f).string()));
    const SafetensorsFile* file = ck->files_.back().get();
    ck->total_bytes_ += fs::file_size(d / f);
    for (const auto& t : file->header().tensors) {
      if (ck->entries_.count(t.name))
        throw WeightsError(dir + ": tensor " + t.name + " appears in both " + ck->entries_[t.name].file->path() +
                           " and " + file->path());
      if (!expected_file.empty()) {
        auto it = expected_file.find(t.name);
        if (it == expected_file.end() || it->second != f)
          throw WeightsError(dir + ": tensor " + t.name + " is in " + f + " but the index " +
                             (it == expected_file.end() ? std::string("does not list it") : "puts it in " + it->second));
      }
      ck->entries_[t.name] = Entry{file, &t};
    }
  }
  for (const auto& [name, f] : expected_file)
    if (!ck->entries_.count(name))
      throw WeightsError(dir + ": the index puts tensor " + name + " in " + f + ", which does not contain it");
  return ck;
}

const Checkpoint::Entry* Checkpoint::find(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

ModelWeights load_model_weights(const std::string& dir) {
  const fs::path d(dir);
  if (!fs::is_directory(d)) throw WeightsError(dir + ": not a directory");
  if (!fs::exists(d / "config.json")) throw WeightsError(dir + ": no config.json");
  ModelWeights w;
  w.config = load_model_config((d / "config.json").string());
  const ModelConfig& c = w.config;
  std::string q = quantisation(d, c, nullptr);
  std::shared_ptr<Checkpoint> ck;
  if (q.empty()) {
    ck = Checkpoint::open(dir);
    q = quantisation(d, c, ck.get());
  }
  if (!q.empty())
    throw WeightsError(dir + ": quantised checkpoint " + q +
                       ": recognised, but the CPU path runs F32, BF16 and F16 weights only (use the BF16 checkpoint)");
  w.checkpoint = ck;
  w.mapped_bytes = ck->total_file_bytes();

  Validator v(*ck);
  const int64_t H = c.hidden_size, V = c.vocab_size;
  const std::string emb = v.has("backbone.embedding.weight") && !v.has("backbone.embeddings.weight")
                              ? "backbone.embedding.weight"  // very old checkpoints
                              : "backbone.embeddings.weight";
  w.embeddings = v.matrix(emb, V, H);
  for (int64_t l = 0; l < c.num_layers(); ++l) {
    const std::string p = "backbone.layers." + std::to_string(l) + ".";
    LayerWeights lw;
    lw.type = c.layers[l];
    lw.norm = v.vector(p + "norm.weight", {H});
    switch (lw.type) {
      case LayerType::kMamba: lw.mamba = load_mamba(v, p + "mixer.", c); break;
      case LayerType::kAttention: lw.attention = load_attention(v, p + "mixer.", c); break;
      case LayerType::kMlp: lw.mlp = load_mlp(v, p + "mixer.", H, c.intermediate_size, c.mlp_bias); break;
      case LayerType::kMoe: lw.moe = load_moe(v, p + "mixer.", c); break;
    }
    w.layers.push_back(std::move(lw));
  }
  w.norm_f = v.vector("backbone.norm_f.weight", {H});
  w.lm_head = c.tie_word_embeddings ? w.embeddings : v.matrix("lm_head.weight", V, H);
  // The MTP head is not run yet, but its tensors are checked so a checkpoint that declares one
  // must carry it whole (names per vLLM's loader, reference doc 1.9).
  for (int64_t depth = 0; depth < c.num_nextn_predict_layers; ++depth) {
    for (size_t i = 0; i < c.mtp_layers.size(); ++i) {
      const std::string p = "mtp.layers." + std::to_string(i + depth * c.mtp_layers.size()) + ".";
      if (i == 0) {
        v.vector(p + "enorm.weight", {H});
        v.vector(p + "hnorm.weight", {H});
        v.matrix(p + "eh_proj.weight", H, 2 * H);
      }
      v.vector(p + "norm.weight", {H});
      switch (c.mtp_layers[i]) {
        case LayerType::kAttention: load_attention(v, p + "mixer.", c); break;
        case LayerType::kMoe: load_moe(v, p + "mixer.", c); break;
        case LayerType::kMlp: load_mlp(v, p + "mixer.", H, c.intermediate_size, c.mlp_bias); break;
        case LayerType::kMamba: load_mamba(v, p + "mixer.", c); break;
      }
      if (i + 1 == c.mtp_layers.size()) v.vector(p + "final_layernorm.weight", {H});
    }
  }
  v.finish(dir);
  return w;
}

}  // namespace nagent::engine
