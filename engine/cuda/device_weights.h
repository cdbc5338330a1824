// A NemotronH model's weights resident on the GPU: every matrix in bf16 (F32/F16 checkpoints
// are converted on upload), the per-channel vectors and the MoE router in fp32, each layer's
// routed experts in one [E, rows, cols] block so kernels can index them by expert id.
// Under expert parallelism a rank holds only its range of the routed experts (the block is then
// [that many, rows, cols], indexed by local expert id).
// Built from a checkpoint (streamed from the memory-mapped file through pinned staging buffers,
// never a second full copy in host RAM) or filled with random values on the GPU for benchmark
// shapes, where no checkpoint exists.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/cuda/device_buffer.h"
#include "engine/cuda/gemm.h"
#include "engine/model_config.h"
#include "engine/model_weights.h"
#include "engine/partition.h"

namespace nagent::engine::cuda {

struct DeviceMlp {
  DeviceMatrix up, down;
  float* up_bias = nullptr;
  float* down_bias = nullptr;
};

struct DeviceMamba {
  DeviceMatrix in_proj, out_proj;
  float* in_proj_bias = nullptr;
  float* out_proj_bias = nullptr;
  float *conv_w = nullptr, *conv_b = nullptr, *A = nullptr, *dt_bias = nullptr, *D = nullptr, *norm = nullptr;
};

struct DeviceAttention {
  DeviceMatrix q, k, v, o;
  float *q_bias = nullptr, *k_bias = nullptr, *v_bias = nullptr, *o_bias = nullptr;
};

struct DeviceMoe {
  float* router = nullptr;           // [E, H] fp32
  float* correction_bias = nullptr;  // [E]
  bf16* up = nullptr;                // [experts held, I, L]
  bf16* down = nullptr;              // [experts held, L, I]
  bool has_shared = false;
  DeviceMlp shared;
  bool latent = false;
  DeviceMatrix fc1, fc2;
  float *fc1_bias = nullptr, *fc2_bias = nullptr;
  DeviceMatrix expert_up(int e, int64_t I, int64_t L) const { return {up + e * I * L, I, L}; }
  DeviceMatrix expert_down(int e, int64_t I, int64_t L) const { return {down + e * I * L, L, I}; }
};

struct DeviceLayer {
  LayerType type = LayerType::kMamba;
  float* norm = nullptr;
  DeviceMamba mamba;
  DeviceAttention attention;
  DeviceMlp mlp;
  DeviceMoe moe;
};

struct DeviceWeights {
  ModelConfig config;
  Span experts;  // the routed experts held, of config.n_routed_experts (all of them on one GPU)
  DeviceMatrix embeddings, lm_head;
  float* norm_f = nullptr;
  std::vector<DeviceLayer> layers;
  std::vector<DeviceBuffer> buffers;  // owns every allocation above
};

// Uploads a loaded checkpoint ({0, n_routed_experts}: every expert), or a rank's shard of one
// (shard_weights) with its routed experts `experts` (plan.experts; may be empty). A bias the host holds empty is absent (a row-parallel bias is
// held by rank 0 only). Allocations are charged to `ledger` by component.
DeviceWeights upload_weights(const ModelWeights& host, Span experts, MemoryLedger& ledger, cudaStream_t stream);
// Random weights of the config's shapes, generated on the GPU (seeded, deterministic).
DeviceWeights random_weights(const ModelConfig& config, uint64_t seed, MemoryLedger& ledger, cudaStream_t stream);

// "" when the CUDA engine runs this config, else the reason it does not.
std::string cuda_unsupported(const ModelConfig& c);

}  // namespace nagent::engine::cuda
