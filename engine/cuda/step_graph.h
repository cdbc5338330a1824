// A decode step captured as a CUDA graph and replayed. A replay is valid while the step's key
// holds: the device buffers its launches bake in (tokens, logits, the workspace: Scratch
// growths) and the switches that pick its kernels. Everything else a step depends on (positions,
// page tables, which states it advances) must be read from device memory by its kernels.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <functional>

namespace nagent::engine::cuda {

struct GraphKey {
  const int32_t* tokens = nullptr;
  float* logits = nullptr;
  uint64_t growths = 0;
  bool fast_gemv = true;
  bool pdl = false;
  bool operator==(const GraphKey&) const = default;
};

struct GraphStats {
  int64_t captures = 0, replays = 0;
};

class StepGraph {
 public:
  StepGraph() = default;
  ~StepGraph();
  StepGraph(const StepGraph&) = delete;
  StepGraph& operator=(const StepGraph&) = delete;

  // Runs `enqueue` (the step's launches on `stream`, no host synchronisation, no allocation once
  // warm): replays the graph when it was captured with key(); else captures it when the last
  // run was an eager one with the same key (which loaded the kernels, chose the cuBLASLt
  // algorithms and grew the workspace), else runs eagerly and remembers key() afterwards. A
  // failed capture is reported once and the step stays eager from then on.
  void run(cudaStream_t stream, const std::function<GraphKey()>& key, const std::function<void()>& enqueue,
           GraphStats& stats);

 private:
  void drop();
  cudaGraphExec_t exec_ = nullptr;
  GraphKey key_, warm_key_;
  bool warm_ = false;
  bool failed_ = false;
};

}  // namespace nagent::engine::cuda
