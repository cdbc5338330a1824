// A NemotronH checkpoint directory (config.json + model.safetensors or a sharded index),
// memory-mapped, with every tensor's presence, dtype and shape checked against the config
// before anything runs. Large matrices stay in their stored dtype inside the mapping; the
// small per-channel vectors (norms, biases, A, D, dt_bias, conv taps) are converted to fp32.
#pragma once

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/model_config.h"
#include "engine/safetensors.h"

namespace nagent::engine {

struct WeightsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A row-major [rows, cols] matrix inside the mapping (PyTorch Linear layout [out, in]).
struct Matrix {
  const void* data = nullptr;
  DType dtype = DType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t bytes() const { return static_cast<size_t>(rows * cols) * dtype_size(dtype); }
};

struct MlpWeights {  // down(relu(up(x))^2)
  Matrix up, down;
  std::vector<float> up_bias, down_bias;  // empty unless mlp_bias
};

struct MambaWeights {
  Matrix in_proj, out_proj;
  std::vector<float> in_proj_bias, out_proj_bias;  // empty unless use_bias
  std::vector<float> conv_w;  // transposed to [K, conv_dim] so the conv vectorises over channels
  std::vector<float> conv_b;  // [conv_dim] (zeros without use_conv_bias)
  std::vector<float> A;       // -exp(A_log) [Hm]
  std::vector<float> dt_bias, D;  // [Hm]
  std::vector<float> norm;    // gated RMSNorm weight [d_inner]
};

struct AttentionWeights {
  Matrix q, k, v, o;
  std::vector<float> q_bias, k_bias, v_bias, o_bias;  // empty unless attention_bias
};

struct MoeWeights {
  std::vector<float> router;           // gate.weight in fp32 [E, H]: the router runs in fp32
  std::vector<float> correction_bias;  // [E]
  std::vector<MlpWeights> experts;     // width latent() -> moe_intermediate_size -> latent()
  bool has_shared = false;
  MlpWeights shared;
  bool latent = false;
  Matrix fc1_latent, fc2_latent;  // [L, H], [H, L]
  std::vector<float> fc1_bias, fc2_bias;
};

struct LayerWeights {
  LayerType type = LayerType::kMamba;
  std::vector<float> norm;  // pre-norm weight [H]
  MambaWeights mamba;
  AttentionWeights attention;
  MlpWeights mlp;
  MoeWeights moe;
};

class Checkpoint;

struct ModelWeights {
  ModelConfig config;
  Matrix embeddings;  // [V, H]
  std::vector<LayerWeights> layers;
  std::vector<float> norm_f;
  Matrix lm_head;  // [V, H] (the embeddings when tie_word_embeddings)
  std::shared_ptr<const Checkpoint> checkpoint;  // keeps the mappings alive
  // Keeps matrices built in memory alive (a tensor-parallel shard's slices, engine/partition.h);
  // null when every matrix lies in the mapping.
  std::shared_ptr<const void> storage;
  size_t mapped_bytes = 0;                        // sum of the safetensors files' sizes
};

// Opens DIR/config.json and the safetensors files, validates everything, maps the weights.
// FP8 and NVFP4 (ModelOpt) checkpoints are recognised and refused with a clear message.
ModelWeights load_model_weights(const std::string& dir);

// The tensors of a checkpoint directory by name, across shards.
class Checkpoint {
 public:
  static std::shared_ptr<Checkpoint> open(const std::string& dir);
  struct Entry {
    const SafetensorsFile* file;
    const TensorInfo* info;
  };
  const Entry* find(const std::string& name) const;
  const std::map<std::string, Entry>& entries() const { return entries_; }
  size_t total_file_bytes() const { return total_bytes_; }

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, Entry> entries_;
  size_t total_bytes_ = 0;
};

}  // namespace nagent::engine
