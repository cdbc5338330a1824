// Multi-GPU partitioning of a NemotronH model over the W ranks (GPUs) of one node: tensor
// parallel for attention (query heads with their KV heads), Mamba-2 (heads with their B/C
// groups), the dense MLP and the shared expert (intermediate columns); expert parallel for the
// routed experts (contiguous ranges, router replicated). Every block's input (the normed
// residual) is replicated and its output is the sum of the ranks' partial outputs, so one
// all-reduce per layer is all the communication. The CPU reference of the sharded forward
// below is the oracle for the NCCL path; at W = 1 the plan is the identity and nothing is
// reduced (the no-op). docs/backends.md, "Multi-GPU partitioning", has the constraints.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <vector>

#include "engine/nemotronh.h"

namespace nagent::engine {

struct PartitionError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

struct Span {  // [begin, end)
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
  bool operator==(const Span&) const = default;
};

// What rank `rank` of `world` holds. Heads and groups split evenly (W must divide them, else
// PartitionError); columns and experts split into contiguous ranges whose sizes differ by at
// most one (any W up to the width).
struct PartitionPlan {
  int world = 1, rank = 0;
  Span q_heads;             // attention query heads
  Span kv_heads;            // their KV heads: whole GQA groups
  int64_t kv_replicas = 1;  // ranks holding each KV head (> 1 when W exceeds num_key_value_heads)
  Span mamba_groups;        // B/C groups
  Span mamba_heads;         // the heads of those groups
  Span mlp_cols;            // dense MLP intermediate columns
  Span experts;             // routed experts held whole
  Span shared_cols;         // shared-expert intermediate columns (all shared experts side by side)
  bool operator==(const PartitionPlan&) const = default;
};

// Checks only the dimensions of the layer types the model has; errors name the dimension and
// the numbers.
PartitionPlan plan_partition(const ModelConfig& c, int world, int rank);

// Rank plan.rank's shard: a ModelWeights whose config states the shard's sizes (heads, groups,
// widths), so blocks::mamba2/attention/mlp run on it unchanged. Column-parallel (output rows
// sliced): in_proj (z, x, B, C, dt parts), conv channels, A/D/dt_bias, gated-norm weight, q/k/v,
// up projections. Row-parallel (input columns sliced): out_proj, o, down projections; their
// biases stay on rank 0 only, as the outputs are summed. Routed experts outside plan.experts
// are left empty (zero-size matrices): MoE layers under expert parallelism run through
// moe_expert_parallel, not blocks::moe. Replicated: embeddings, norms, LM head, router,
// correction bias, latent projections. Dtypes are kept. Slices of whole rows (and anything
// not sliced) are views of `full`, which the shard keeps alive; column slices are copied into
// storage the shard owns.
ModelWeights shard_weights(const ModelWeights& full, const PartitionPlan& plan);

// The reduction between ranks, one object per rank: in-process below (host buffers, for the
// CPU reference), NCCL in engine/cuda/nccl/ (device buffers, stream-ordered).
class Collective {
 public:
  virtual ~Collective() = default;
  virtual int world_size() const = 0;
  virtual int rank() const = 0;
  // buf[0, n) becomes the elementwise sum over the ranks' buffers, on every rank (in place by
  // return for host buffers; in stream order for device buffers).
  virtual void all_reduce_sum(float* buf, int64_t n) = 0;
  // A rank that fails calls this so the others stop waiting (their calls throw).
  virtual void abort() {}
};

// W communicators for W threads of one process. Sums in rank order, so every rank gets the
// bitwise same result (the replicated residual streams stay identical).
std::vector<std::unique_ptr<Collective>> make_in_process_collectives(int world);

// The MoE block of a shard under expert parallelism: routes every token with the replicated
// router (so all ranks agree), runs the experts in plan.experts on the tokens routed to them,
// the latent fc2 on this rank's partial sum, and this rank's shared-expert columns. The sum of
// the ranks' outputs is blocks::moe's output.
void moe_expert_parallel(NemotronH& shard, const PartitionPlan& plan, const MoeWeights& w, const float* x, int64_t T,
                         float* out);

// What one rank runs (one thread or process per GPU): the forward pass of its shard, the
// per-layer partial outputs all-reduced through comm (skipped at W = 1). layers: this rank's
// state ([num_layers], shard sizes); position: tokens consumed so far (the caller advances it).
// Logits as NemotronH::forward (replicated LM head; every rank computes them, the caller reads
// one), may be null.
void forward_rank(NemotronH& shard, const PartitionPlan& plan, Collective& comm, std::vector<LayerState>& layers,
                  int64_t position, const int32_t* tokens, int64_t n, float* logits, bool all_positions);

// The CPU reference of the sharded model: W shards, each a NemotronH with `options` (threads
// per rank) run by its own thread per call, reducing through in-process collectives. A state's
// `layers` holds rank 0's layer states, then rank 1's, and so on.
class ShardedNemotronH : public LanguageModel {
 public:
  ShardedNemotronH(const ModelWeights& full, int world, const EngineOptions& options = {});
  ~ShardedNemotronH() override;

  int world() const { return static_cast<int>(shards_.size()); }
  const PartitionPlan& plan(int rank) const { return plans_[rank]; }
  NemotronH& shard(int rank) { return *shards_[rank]; }

  const ModelConfig& config() const override { return config_; }
  ModelState new_state() const override;
  void forward(ModelState& state, const int32_t* tokens, int64_t n, float* logits, bool all_positions) override;
  std::string device_description() const override;

 private:
  ModelConfig config_;
  std::vector<PartitionPlan> plans_;
  std::vector<std::unique_ptr<NemotronH>> shards_;
  std::vector<std::unique_ptr<Collective>> comms_;
};

}  // namespace nagent::engine
