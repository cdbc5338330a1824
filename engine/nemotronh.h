// NemotronH forward pass on the CPU: embeddings, per-layer pre-RMSNorm + mixer (Mamba-2, GQA
// attention without positional encoding, ReLU² MLP, MoE) + residual, final norm, LM head.
// Activations and accumulation in fp32; weights read in their stored dtype.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/cpu_kernels.h"
#include "engine/language_model.h"
#include "engine/model_config.h"
#include "engine/model_weights.h"

namespace nagent::engine {

struct EngineOptions {
  int threads = 0;  // 0: all hardware threads
  DtClamp dt_clamp = DtClamp::kTimeStepLimit;
  int64_t max_batch = 256;  // tokens per forward pass in prefill (bounds the workspace)
  // Prefill products with BF16 weights round their activations to bf16 and run on AMX tiles
  // where the CPU has them (PyTorch's bf16 numerics, fp32 sums); false keeps fp32 activations
  // everywhere (the exact path, equal to fp32 arithmetic on the stored weights).
  bool bf16_activations = true;
  // GPUs a CUDA model is sharded over, tensor and expert parallel (engine/cuda/cuda_sharded.h):
  // cuda:N .. cuda:N+W-1 for --device cuda:N. 1: one GPU, no sharding.
  int tensor_parallel = 1;
};

// Work buffers of the forward pass, kept by the model and reused by every call, so that a warm
// forward pass allocates nothing. The mixers share the kMixer slots: one block runs at a time.
enum WorkSlot : int {
  kWorkHidden, kWorkNormed, kWorkMixerOut, kMixer0, kMixer1, kMixer2, kMixer3, kMixer4, kMixer5, kMixer6, kWorkSlots
};

namespace blocks {
// The rows of one sequence in a stacked batch of activations: rows [row0, row0 + T) of the
// block input and output belong to the sequence whose layer state is *state and which has
// consumed pos tokens before them. A single forward pass is one such sequence; batched decode
// is n of them, one row each.
struct SeqRows {
  LayerState* state;
  int64_t pos, row0, T;
};
// The sequence that owns `row` of seqs[0..n) (rows in order, no gaps).
const SeqRows& seq_of_row(const SeqRows* seqs, int64_t n, int64_t row);
}  // namespace blocks

// How a shard of a partitioned model (engine/partition.h) joins the other ranks in the layer
// loop: its MoE layers run expert-parallel, and every mixer output is summed over the ranks
// before the residual add. Empty functions: the unsharded model.
struct ShardHooks {
  std::function<void(const MoeWeights& w, const float* x, int64_t T, float* out)> moe;
  std::function<void(float* data, int64_t n)> all_reduce_sum;
};

class NemotronH : public LanguageModel {
 public:
  static std::unique_ptr<NemotronH> load(const std::string& dir, const EngineOptions& options = {});
  explicit NemotronH(ModelWeights weights, const EngineOptions& options = {});

  const ModelConfig& config() const override { return w_.config; }
  const ModelWeights& weights() const { return w_; }
  const EngineOptions& options() const { return options_; }
  ThreadPool& pool() { return *pool_; }
  // engine::matmul on this model's pool with its options; bias empty for none.
  void matmul(const Matrix& W, const float* x, int64_t T, float* y, int64_t ldy, const std::vector<float>& bias = {});

  // Buffer `slot` with room for at least n floats (contents unspecified), valid until the
  // next call for the same slot.
  float* work(WorkSlot slot, int64_t n);

  ModelState new_state() const override { return zero_host_state(w_.config); }
  void forward(ModelState& state, const int32_t* tokens, int64_t n, float* logits, bool all_positions) override;
  // forward() of one rank of a partitioned model (this model is the rank's shard).
  void forward_shard(ModelState& state, const int32_t* tokens, int64_t n, float* logits, bool all_positions,
                     const ShardHooks& hooks);
  // The n tokens go through each layer together ([n, H] activations, every product reads its
  // weights once for all n); the recurrent steps and attention run per sequence. Products keep
  // fp32 activations whatever bf16_activations says (no AMX tiles), so each sequence's logits and
  // state are bitwise those of forward(*states[i], &tokens[i], 1, ...).
  void decode_batch(ModelState* const* states, const int32_t* tokens, int64_t n, float* logits) override;
  std::string device_description() const override;

 private:
  // One pass of the layers over stacked rows: states[i] owns the next counts[i] rows of tokens
  // (sum of counts <= max_batch). logits: every row when all_positions, else the last row of
  // each sequence, in order; null for none.
  void forward_rows(ModelState* const* states, const int64_t* counts, int64_t nseq, const int32_t* tokens,
                    float* logits, bool all_positions, const ShardHooks* hooks = nullptr);
  void check_tokens(const int32_t* tokens, int64_t n) const;
  void check_state(const ModelState& state) const;

  ModelWeights w_;
  EngineOptions options_;
  std::unique_ptr<ThreadPool> pool_;
  std::vector<float> work_[kWorkSlots];
  std::vector<blocks::SeqRows> seq_rows_;  // forward_rows' per-layer sequence table, reused
  std::vector<int64_t> counts_;            // decode_batch's row counts (all 1), reused
  bool fp32_activations_ = false;          // set during decode_batch: no bf16/AMX products
};

// Block mixers (one file each). x: normed input [T, H]; out: [T, H] mixer output. They keep
// their intermediates in the model's kMixer work slots (moe included), so x and out must not
// live in those.
namespace blocks {
// pos: tokens the state has already consumed.
void mamba2(NemotronH& m, const MambaWeights& w, LayerState& s, int64_t pos, const float* x, int64_t T,
            float* out);
void attention(NemotronH& m, const AttentionWeights& w, LayerState& s, int64_t pos, const float* x, int64_t T,
               float* out);
void mlp(NemotronH& m, const MlpWeights& w, const float* x, int64_t T, float* out);
void moe(NemotronH& m, const MoeWeights& w, const float* x, int64_t T, float* out);
// The same mixers over several sequences' stacked rows (x, out: [rows, H], rows the sum of
// seqs[i].T); the single-sequence functions above are these with one SeqRows.
void mamba2_seqs(NemotronH& m, const MambaWeights& w, const SeqRows* seqs, int64_t nseq, const float* x, float* out);
void attention_seqs(NemotronH& m, const AttentionWeights& w, const SeqRows* seqs, int64_t nseq, const float* x,
                    float* out);

// Routing of one token (exposed for tests): sigmoid scores, correction bias for selection only,
// group-limited top-k, renormalisation, routed scaling. Returns (expert, weight) pairs.
std::vector<std::pair<int, float>> route(const ModelConfig& c, const float* logits, const float* correction_bias);
}  // namespace blocks

}  // namespace nagent::engine
