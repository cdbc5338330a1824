#include "engine/cuda/cuda_sharded.h"

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cstdio>
#include <exception>
#include <stdexcept>

#include "engine/cuda/cuda_check.h"
#include "engine/shard_state.h"
#if NAGENT_NCCL
#include "engine/cuda/nccl/nccl_collective.h"
#endif

namespace nagent::engine::cuda {

namespace {

// Makes `device` current on this thread for the scope (a rank's buffers are allocated, copied
// and freed with its GPU current).
class CurrentDevice {
 public:
  explicit CurrentDevice(int device) {
    NAGENT_CUDA_CHECK(cudaGetDevice(&previous_));
    NAGENT_CUDA_CHECK(cudaSetDevice(device));
  }
  ~CurrentDevice() { cudaSetDevice(previous_); }
  CurrentDevice(const CurrentDevice&) = delete;
  CurrentDevice& operator=(const CurrentDevice&) = delete;

 private:
  int previous_ = 0;
};

void check_tokens(const ModelConfig& c, const int32_t* tokens, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= c.vocab_size)
      throw std::out_of_range("token id " + std::to_string(tokens[i]) + " is outside the vocabulary [0, " +
                              std::to_string(c.vocab_size) + ")");
}

CudaState& cuda_state(ModelState& s) { return static_cast<CudaState&>(*s.device.get()); }

}  // namespace

// A sequence on every rank: ranks[r] is rank r's state (its CudaState, or host form until rank
// r's first step uploads it).
class CudaShardedNemotronH::State : public DeviceState {
 public:
  State(const CudaShardedNemotronH& model, std::vector<ModelState> ranks) : model_(&model), ranks(std::move(ranks)) {}
  ~State() override {
    for (size_t r = 0; r < ranks.size(); ++r) {
      try {
        CurrentDevice on(model_->devices_[r]);
        ranks[r] = ModelState{};
      } catch (...) {  // a destructor does not throw; the rank's buffers go with the process
      }
    }
  }
  std::unique_ptr<DeviceState> clone() const override {
    std::vector<ModelState> copies;
    for (size_t r = 0; r < ranks.size(); ++r) {
      CurrentDevice on(model_->devices_[r]);
      copies.push_back(ranks[r]);  // copies the rank's CudaState on its GPU
    }
    return std::make_unique<State>(*model_, std::move(copies));
  }
  std::vector<LayerState> to_host() const override {
    std::vector<std::vector<LayerState>> parts;
    for (size_t r = 0; r < ranks.size(); ++r) {
      CurrentDevice on(model_->devices_[r]);
      parts.push_back(ranks[r].device ? ranks[r].device.get()->to_host() : ranks[r].layers);
    }
    return unshard_layer_states(model_->config_, model_->plans_, parts);
  }

  const CudaShardedNemotronH* model_;
  std::vector<ModelState> ranks;
};

CudaShardedNemotronH::CudaShardedNemotronH(const ModelWeights& full, const std::vector<int>& devices,
                                           const CudaOptions& options)
    : config_(full.config), devices_(devices) {
  const int W = world();
  if (W < 1) throw std::invalid_argument("a sharded CUDA model needs at least one GPU");
  for (int r = 0; r < W; ++r) {
    if (std::count(devices.begin(), devices.end(), devices[r]) > 1)
      throw std::invalid_argument("GPU cuda:" + std::to_string(devices[r]) + " is named twice for one sharded model");
    plans_.push_back(plan_partition(full.config, W, r));  // PartitionError before any upload
  }
#if !NAGENT_NCCL
  if (W > 1)
    throw std::runtime_error("tensor parallelism over " + std::to_string(W) +
                             " GPUs needs NCCL, which this nagent was built without");
#endif
  ranks_.resize(static_cast<size_t>(W));
  threads_ = std::make_unique<RankThreads>(W, [&](int r) { NAGENT_CUDA_CHECK(cudaSetDevice(devices_[r])); });
  try {
    threads_->run([&](int r) {
      CudaOptions o = options;
      o.device = devices_[r];
      ranks_[r] = std::make_unique<CudaNemotronH>(shard_weights(full, plans_[r]), plans_[r], o);
    });
#if NAGENT_NCCL
    if (W > 1) {
      std::vector<cudaStream_t> streams;
      for (const auto& m : ranks_) streams.push_back(m->stream());
      comms_ = make_nccl_collectives(devices_, streams);
      for (int r = 0; r < W; ++r) ranks_[r]->set_collective(comms_[r].get());
    }
#endif
  } catch (...) {
    release();
    throw;
  }
}

CudaShardedNemotronH::~CudaShardedNemotronH() { release(); }

// Each rank's communicator and model go on its own thread, with its GPU current (NCCL's
// teardown may wait for the other ranks').
void CudaShardedNemotronH::release() {
  if (!threads_) return;
  try {
    threads_->run([&](int r) {
      if (static_cast<size_t>(r) < comms_.size()) comms_[r].reset();
      ranks_[r].reset();
    });
  } catch (...) {  // nothing more to do for a rank whose teardown failed
  }
  threads_.reset();
}

ModelState CudaShardedNemotronH::new_state() const {
  std::vector<ModelState> ranks;
  for (int r = 0; r < world(); ++r) {
    CurrentDevice on(devices_[r]);
    ranks.push_back(ranks_[r]->new_state());
  }
  ModelState s;
  s.device = DeviceStateHandle(std::make_unique<State>(*this, std::move(ranks)));
  return s;
}

// A host-form state (the unsharded layout) is split into the ranks' host forms here; each rank
// uploads its part at its first step.
CudaShardedNemotronH::State& CudaShardedNemotronH::sharded_state(ModelState& s) {
  if (s.device) {
    auto* st = dynamic_cast<State*>(s.device.get());
    if (!st || st->model_ != this) throw std::invalid_argument("state belongs to another model");
    return *st;
  }
  std::vector<ModelState> ranks(static_cast<size_t>(world()));
  for (int r = 0; r < world(); ++r) {
    ranks[r].position = s.position;
    ranks[r].layers = shard_layer_states(config_, plans_[r], s.layers);
  }
  s.layers.clear();
  s.device = DeviceStateHandle(std::make_unique<State>(*this, std::move(ranks)));
  return *static_cast<State*>(s.device.get());
}

void CudaShardedNemotronH::run_step(const std::function<void(int)>& prepare, const std::function<void(int)>& step) {
  if (failed_) throw std::runtime_error("sharded CUDA model: a rank failed earlier; this model cannot run on");
  // prepare (uploads, KV pages: what fails alike on every rank, before any collective) on all
  // ranks, then a host barrier, then the step only if every rank got ready.
  std::vector<std::exception_ptr> unready(static_cast<size_t>(world()));
  std::atomic<bool> any_unready{false};
  std::barrier ready(world());
  threads_->run(
      [&](int r) {
        try {
          prepare(r);
        } catch (...) {
          unready[r] = std::current_exception();
          any_unready = true;
        }
        ready.arrive_and_wait();
        if (!any_unready) step(r);
      },
      [&](int) {
        // A rank failed mid-step: the others may wait on it inside NCCL; aborting every
        // communicator releases them (their steps then fail too).
        failed_ = true;
        for (auto& c : comms_) c->abort();
      });
  for (const auto& e : unready)
    if (e) std::rethrow_exception(e);
}

void CudaShardedNemotronH::forward(ModelState& state, const int32_t* tokens, int64_t n, float* logits,
                                   bool all_positions) {
  check_tokens(config_, tokens, n);
  State& st = sharded_state(state);
  run_step(
      [&](int r) {
        ModelState& rs = st.ranks[r];
        ranks_[r]->forward(rs, tokens, 0, nullptr, false);  // no tokens: uploads a host-form state
        cuda_state(rs).reserve(rs.position + n);
      },
      [&](int r) { ranks_[r]->forward(st.ranks[r], tokens, n, r == 0 ? logits : nullptr, all_positions); });
  state.position = st.ranks[0].position;
}

void CudaShardedNemotronH::decode_batch(ModelState* const* states, const int32_t* tokens, int64_t n, float* logits) {
  if (n <= 0) return;
  check_tokens(config_, tokens, n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < i; ++j)
      if (states[j] == states[i]) throw std::invalid_argument("decode_batch: the same state twice in one batch");
  std::vector<State*> seqs(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) seqs[i] = &sharded_state(*states[i]);
  std::vector<std::vector<ModelState*>> of_rank(static_cast<size_t>(world()));
  for (int r = 0; r < world(); ++r)
    for (State* s : seqs) of_rank[r].push_back(&s->ranks[r]);
  run_step(
      [&](int r) {
        for (ModelState* rs : of_rank[r]) {
          ranks_[r]->forward(*rs, tokens, 0, nullptr, false);
          cuda_state(*rs).reserve(rs->position + 1);
        }
      },
      [&](int r) { ranks_[r]->decode_batch(of_rank[r].data(), tokens, n, r == 0 ? logits : nullptr); });
  for (int64_t i = 0; i < n; ++i) states[i]->position = seqs[i]->ranks[0].position;
}

std::string CudaShardedNemotronH::device_description() const {
  std::string out = "tensor parallel over " + std::to_string(world()) + " GPU" + (world() == 1 ? "" : "s") + ": ";
  for (int r = 0; r < world(); ++r) out += (r ? "; " : "") + ranks_[r]->device_description();
  return out;
}

std::unique_ptr<LanguageModel> load_sharded_model(const std::string& dir, const std::vector<int>& devices,
                                                  const EngineOptions& options) {
  const ModelWeights host = load_model_weights(dir);
  CudaOptions o;
  o.dt_clamp = options.dt_clamp;
  auto m = std::make_unique<CudaShardedNemotronH>(host, devices, o);
  std::fprintf(stderr, "nagent: %s loaded on %s; GPU memory by component on rank 0:\n%s", dir.c_str(),
               m->device_description().c_str(), m->rank(0).memory().report().c_str());
  return m;
}

}  // namespace nagent::engine::cuda
