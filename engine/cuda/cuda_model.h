// NemotronH on one NVIDIA GPU behind the LanguageModel interface: weights resident in bf16,
// states on the device (Mamba conv/SSM state in fp32, attention K/V in the paged bf16 cache),
// activations in fp32. ModelState::device holds a CudaState; a host-form state (a restored
// snapshot, a loaded session file) is uploaded on first use.
#pragma once

#include <cuda_runtime.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/cuda/device_weights.h"
#include "engine/cuda/gemm.h"
#include "engine/cuda/kv_pool.h"
#include "engine/cuda/step_graph.h"
#include "engine/language_model.h"
#include "engine/nemotronh.h"
#include "engine/partition.h"

namespace nagent::engine::cuda {

int device_count();

struct CudaOptions {
  int device = 0;
  int64_t max_batch = 8192;        // tokens per forward pass (bounds the workspace)
  int64_t kv_capacity = 1 << 18;   // tokens in the KV cache over all sequences
  int page_size = 64;
  DtClamp dt_clamp = DtClamp::kTimeStepLimit;
  // The one-token decode step is captured as a CUDA graph per session and replayed (positions
  // come from device memory, so the graph stays valid as the context grows; captured again
  // when a workspace buffer or the token/logit buffers move); a batched decode step likewise,
  // one graph per batch size, serving any sequences. NAGENT_CUDA_GRAPHS=0 turns them off.
  bool graphs = true;
};

class CudaNemotronH;

// One sequence's state on the GPU.
class CudaState : public DeviceState {
 public:
  explicit CudaState(CudaNemotronH& model);
  ~CudaState() override;
  std::unique_ptr<DeviceState> clone() const override;
  std::vector<LayerState> to_host() const override;

  int64_t position = 0;
  float* mamba(size_t layer) const;  // conv state [(K-1) * conv_dim] then SSM state [Hm*P*N]
  // The position on the device (what the decode kernels read; advanced on the device).
  int32_t* device_position() const { return pos_.as<int32_t>(); }
  // Grows the page table to hold `tokens` positions.
  void reserve(int64_t tokens);
  const int32_t* page_table() const { return page_table_.as<int32_t>(); }

 private:
  friend class CudaNemotronH;
  CudaNemotronH* model_;
  DeviceBuffer mamba_;
  std::vector<int32_t> pages_;
  DeviceBuffer page_table_;
  DeviceBuffer pos_;
  int64_t device_position_ = 0;  // the value *pos_ holds once the queued work is done
  int32_t pos_upload_ = 0;       // source of the last upload of the position
  StepGraph graph_;              // the captured one-token decode step
};

class CudaNemotronH : public LanguageModel {
 public:
  // From a checkpoint in host memory (uploaded) or random weights of a config (benchmarks).
  CudaNemotronH(const ModelWeights& host, const CudaOptions& options);
  CudaNemotronH(const ModelConfig& config, uint64_t seed, const CudaOptions& options);
  // Rank plan.rank of plan.world (tensor and expert parallel, engine/cuda/cuda_sharded.h): `shard`
  // is shard_weights(full, plan); only the routed experts in plan.experts are uploaded. When
  // plan.world > 1, set_collective must be called before the first step. At world 1 this is
  // the model above.
  CudaNemotronH(const ModelWeights& shard, const PartitionPlan& plan, const CudaOptions& options);
  // The rank's reduction (device buffers on this GPU, enqueued on stream(): make_nccl_collectives
  // with this model's stream): each layer's partial block output is summed over the ranks
  // before the residual add, as forward_rank does on the CPU. Not called at world 1, where
  // nothing is reduced (no launch, no copy).
  void set_collective(Collective* comm) { comm_ = comm; }
  int world() const { return world_; }
  ~CudaNemotronH() override;

  const ModelConfig& config() const override { return w_.config; }
  ModelState new_state() const override;
  void forward(ModelState& state, const int32_t* tokens, int64_t n, float* logits, bool all_positions) override;
  std::string device_description() const override;

  // The device-level step: tokens and logits in device memory, enqueued on stream() without a
  // host synchronisation in decode (T <= 8; prefill reads the MoE routing back once per MoE layer;
  // a step that crosses into a new KV page uploads its entry synchronously).
  // logits: [T, V] when all_positions, else [V]; may be null. T = 1 after the first token replays
  // the session's captured graph (options().graphs).
  void forward_device(CudaState& s, const int32_t* d_tokens, int64_t T, float* d_logits, bool all_positions);
  // Batched decode (LanguageModel::decode_batch's device-level step): the next token of each of
  // n <= options().max_batch distinct sequences, d_tokens [n] -> d_logits [n, V] (may be null),
  // in one pass of the layers: every product one GEMM over the n rows, the Mamba steps and
  // attention per row on its own state and cache, the MoE routed for the n tokens together.
  // Enqueued on stream() without a host synchronisation (unless a sequence crosses into a new
  // KV page, or n tokens' MoE takes the host-side permutation: n > 256 for the usual shapes);
  // replays a CUDA graph captured for this n when options().graphs.
  void decode_batch_device(CudaState* const* seqs, const int32_t* d_tokens, int64_t n, float* d_logits);
  void decode_batch(ModelState* const* states, const int32_t* tokens, int64_t n, float* logits) override;

  // Switches for benchmarks and checks (each takes effect at the next step; graphs are captured
  // again as needed).
  void set_graphs(bool on) { options_.graphs = on; }
  void set_fast_gemv(bool on) { gemm_->set_fast_gemv(on); }
  // Programmatic dependent launch of the GEMV kernels (gemv.cu; process-wide, NAGENT_CUDA_PDL=1).
  void set_pdl(bool on) { cuda::set_pdl(on); }
  int64_t graph_captures() const { return graph_stats_.captures; }
  int64_t graph_replays() const { return graph_stats_.replays; }
  // Expert census (benchmarks): while on, every MoE layer reads its routing back to the host
  // and counts the distinct experts it selected (steps run eagerly, with a synchronisation per
  // MoE layer).
  struct ExpertCensus {
    int64_t layer_runs = 0;  // MoE layer passes counted
    int64_t experts = 0;     // distinct experts selected, summed over those passes
  };
  void set_expert_census(bool on) { census_on_ = on; }
  const ExpertCensus& expert_census() const { return census_; }

  cudaStream_t stream() const { return stream_; }
  const MemoryLedger& memory() const { return ledger_; }
  const DeviceWeights& weights() const { return w_; }
  KvPool& kv_pool() { return *kv_; }
  const CudaOptions& options() const { return options_; }
  int64_t mamba_state_floats() const;  // per Mamba layer

 private:
  friend class CudaState;
  void init();
  CudaState& device_state(ModelState& s);
  void check_tokens(const int32_t* tokens, int64_t n) const;
  // The rows of a batched decode step, device arrays with one entry per row: the sequence's
  // Mamba states (CudaState::mamba_), page table and the position of the row's token.
  struct BatchRows {
    float* const* mamba;
    const int32_t* const* tables;
    const int32_t* pos;
  };
  // What one pass of the layers runs: T consecutive tokens of one sequence (seq), or the next
  // token of each of T sequences (batch).
  struct Step {
    CudaState* seq;
    const BatchRows* batch;
    int64_t T;
  };
  void enqueue_step(const Step& step, const int32_t* d_tokens, float* d_logits, bool all_positions);
  void mamba_layer(size_t l, const Step& step, const float* x, float* out);
  void attention_layer(size_t l, const Step& step, const float* x, float* out);
  void mlp(const DeviceMlp& m, const float* x, int64_t T, float* out, bool accumulate = false);
  void moe_layer(size_t l, const float* x, int64_t T, float* out);
  // Sums a layer's partial output over the ranks (world > 1 only).
  void reduce_layer_output(float* y, int64_t n);
  // Whether T tokens through MoE layer m group their slots on the device (else the host-side
  // permutation when the slots are too many for the GEMV path), and whether any MoE layer of a
  // T-token pass synchronises with the host.
  bool moe_grouped(const DeviceMoe& m, int64_t T) const;
  bool step_syncs(int64_t T) const;

  CudaOptions options_;
  cudaStream_t stream_ = nullptr;
  MemoryLedger ledger_;
  DeviceWeights w_;
  int world_ = 1;              // ranks the model is sharded over
  Collective* comm_ = nullptr;  // their reduction (world_ > 1)
  std::unique_ptr<Gemm> gemm_;
  std::unique_ptr<KvPool> kv_;
  std::vector<size_t> mamba_index_;  // layer -> index among Mamba layers
  size_t mamba_layers_ = 0;
  struct Workspace;
  std::unique_ptr<Workspace> ws_;
  std::string gpu_name_;
  GraphStats graph_stats_;
  std::map<int64_t, StepGraph> batch_graphs_;  // by batch size
  std::vector<unsigned char> batch_host_;       // the BatchRows arrays before upload
  cudaEvent_t batch_uploaded_ = nullptr;        // the last upload of batch_host_ has read it
  bool census_on_ = false;
  ExpertCensus census_;
};

// Loads DIR onto GPU `device` (for engine/model_loader.cpp).
std::unique_ptr<LanguageModel> load_model(const std::string& dir, int device, const EngineOptions& options);

}  // namespace nagent::engine::cuda
