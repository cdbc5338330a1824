// NemotronH over W GPUs of one node, tensor and expert parallel (engine/partition.h): rank r is a
// CudaNemotronH built from shard_weights(full, plan r) on devices[r], driven by its own host
// thread (RankThreads, with that GPU current); each layer's partial outputs are summed through
// NCCL (make_nccl_collectives on the ranks' streams). forward and decode_batch run every rank on
// the same tokens and read rank 0's logits (the LM head is replicated; the other ranks skip it).
// A state holds one CudaState per rank; its host form is the unsharded layout (shard_state.h),
// so snapshots and session files are those of one GPU. At W = 1 it is one CudaNemotronH on
// devices[0] with no collective.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/cuda/cuda_model.h"
#include "engine/rank_threads.h"

namespace nagent::engine::cuda {

class CudaShardedNemotronH : public LanguageModel {
 public:
  // Throws PartitionError when the config cannot be split W ways (before anything is uploaded),
  // std::invalid_argument for a repeated device, std::runtime_error when W > 1 and this build
  // has no NCCL.
  CudaShardedNemotronH(const ModelWeights& full, const std::vector<int>& devices, const CudaOptions& options = {});
  ~CudaShardedNemotronH() override;

  int world() const { return static_cast<int>(devices_.size()); }
  const PartitionPlan& plan(int rank) const { return plans_[rank]; }
  CudaNemotronH& rank(int r) { return *ranks_[r]; }

  const ModelConfig& config() const override { return config_; }
  ModelState new_state() const override;
  void forward(ModelState& state, const int32_t* tokens, int64_t n, float* logits, bool all_positions) override;
  void decode_batch(ModelState* const* states, const int32_t* tokens, int64_t n, float* logits) override;
  std::string device_description() const override;

 private:
  class State;
  State& sharded_state(ModelState& s);
  // prepare(rank) on every rank's thread, then, if none failed, step(rank). A failed prepare
  // is rethrown and nothing has run; a rank that fails in its step aborts the communicators
  // (releasing the ranks waiting on it) and the model refuses further steps, as the ranks'
  // states are then out of step.
  void run_step(const std::function<void(int)>& prepare, const std::function<void(int)>& step);
  void release();  // each rank's communicator and model, on its thread

  ModelConfig config_;
  std::vector<int> devices_;
  std::vector<PartitionPlan> plans_;
  std::unique_ptr<RankThreads> threads_;
  std::vector<std::unique_ptr<CudaNemotronH>> ranks_;
  std::vector<std::unique_ptr<Collective>> comms_;
  std::atomic<bool> failed_{false};
};

// Loads DIR sharded over `devices` (for engine/model_loader.cpp's --tensor-parallel).
std::unique_ptr<LanguageModel> load_sharded_model(const std::string& dir, const std::vector<int>& devices,
                                                  const EngineOptions& options);

}  // namespace nagent::engine::cuda
