#include "engine/cuda/nccl/nccl_collective.h"

#include <nccl.h>

#include <atomic>
#include <stdexcept>
#include <string>

namespace nagent::engine::cuda {

namespace {

void nccl_check(ncclResult_t r, const char* what) {
  if (r != ncclSuccess) throw std::runtime_error(std::string("NCCL error in ") + what + ": " + ncclGetErrorString(r));
}

class NcclCollective : public Collective {
 public:
  NcclCollective(ncclComm_t comm, cudaStream_t stream, int world, int rank)
      : comm_(comm), stream_(stream), world_(world), rank_(rank) {}
  ~NcclCollective() override {
    if (ncclComm_t c = comm_.exchange(nullptr)) ncclCommDestroy(c);
  }
  int world_size() const override { return world_; }
  int rank() const override { return rank_; }
  void all_reduce_sum(float* buf, int64_t n) override {
    if (world_ == 1 || n == 0) return;  // one GPU: nothing to reduce, nothing launched
    ncclComm_t c = comm_.load();
    if (!c) throw std::runtime_error("all_reduce_sum: the NCCL communicator was aborted");
    nccl_check(ncclAllReduce(buf, buf, static_cast<size_t>(n), ncclFloat32, ncclSum, c, stream_), "ncclAllReduce");
  }
  // Ranks blocked in a collective whose peer failed are released by aborting the communicator;
  // any thread may call it, more than once (the sharded model aborts every rank's from the
  // failing rank's thread).
  void abort() override {
    if (ncclComm_t c = comm_.exchange(nullptr)) ncclCommAbort(c);
  }

 private:
  std::atomic<ncclComm_t> comm_;
  cudaStream_t stream_;
  int world_, rank_;
};

}  // namespace

std::vector<std::unique_ptr<Collective>> make_nccl_collectives(const std::vector<int>& devices,
                                                               const std::vector<cudaStream_t>& streams) {
  if (devices.empty()) throw std::invalid_argument("make_nccl_collectives: no devices");
  if (streams.size() != devices.size())
    throw std::invalid_argument("make_nccl_collectives: " + std::to_string(devices.size()) + " devices but " +
                                std::to_string(streams.size()) + " streams");
  const int world = static_cast<int>(devices.size());
  std::vector<ncclComm_t> comms(devices.size());
  nccl_check(ncclCommInitAll(comms.data(), world, devices.data()), "ncclCommInitAll");
  std::vector<std::unique_ptr<Collective>> out;
  for (int r = 0; r < world; ++r) out.push_back(std::make_unique<NcclCollective>(comms[r], streams[r], world, r));
  return out;
}

}  // namespace nagent::engine::cuda
