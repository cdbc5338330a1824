#include "engine/cuda/step_graph.h"

#include <cstdio>
#include <exception>

#include "engine/cuda/cuda_check.h"

namespace nagent::engine::cuda {

StepGraph::~StepGraph() { drop(); }

void StepGraph::drop() {
  if (exec_) cudaGraphExecDestroy(exec_);
  exec_ = nullptr;
}

void StepGraph::run(cudaStream_t stream, const std::function<GraphKey()>& key, const std::function<void()>& enqueue,
                    GraphStats& stats) {
  const GraphKey now = key();
  if (failed_) {
    enqueue();
  } else if (exec_ && key_ == now) {
    NAGENT_CUDA_CHECK(cudaGraphLaunch(exec_, stream));
    ++stats.replays;
  } else if (warm_ && warm_key_ == now) {
    drop();
    cudaGraph_t g = nullptr;
    NAGENT_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    bool captured = true;
    try {
      enqueue();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "nagent: CUDA graph capture of the decode step failed (%s); running it eagerly\n",
                   e.what());
      captured = false;
    }
    const cudaError_t end = cudaStreamEndCapture(stream, &g);
    cudaGraphExec_t exec = nullptr;
    if (captured && end == cudaSuccess && g && cudaGraphInstantiate(&exec, g, 0) == cudaSuccess) {
      exec_ = exec;
      key_ = now;
      ++stats.captures;
      NAGENT_CUDA_CHECK(cudaGraphLaunch(exec, stream));
      ++stats.replays;
    } else {
      if (captured)
        std::fprintf(stderr, "nagent: CUDA graph capture of the decode step failed (%s); running it eagerly\n",
                     cudaGetErrorString(end != cudaSuccess ? end : cudaGetLastError()));
      cudaGetLastError();
      failed_ = true;
      enqueue();
    }
    if (g) cudaGraphDestroy(g);
  } else {
    enqueue();
    warm_ = true;
    warm_key_ = key();
  }
}

}  // namespace nagent::engine::cuda
